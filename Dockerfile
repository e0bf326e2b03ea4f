# Relais, built from source into a static binary and run as a non-root user.
#   docker build -t relais .
# docker-compose.yml runs two of these on a 3-node NATS cluster.

FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/relais ./cmd/relais

FROM alpine:3.22 AS run
# wget (busybox) answers the compose health check on /healthz.
RUN addgroup -S -g 10001 relais && adduser -S -D -H -u 10001 -G relais relais \
    && mkdir -p /data && chown relais:relais /data
COPY --from=build /out/relais /usr/local/bin/relais
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080 2575
ENTRYPOINT ["/usr/local/bin/relais"]
CMD ["serve", "--data", "/data", "--http", ":8080"]
