package events

import "encoding/json"

// upcastMedicationV1 lifts {"medications":["a","b"]} to
// {"medications":[{"name":"a"},{"name":"b"}]}.
func upcastMedicationV1(raw json.RawMessage) (json.RawMessage, error) {
	var v1 struct {
		ClientID    string   `json:"client_id"`
		PharmacyID  string   `json:"pharmacy_id"`
		Medications []string `json:"medications"`
	}
	if err := json.Unmarshal(raw, &v1); err != nil {
		return nil, err
	}
	v2 := MedicationProfileUpdated{ClientID: v1.ClientID, PharmacyID: v1.PharmacyID}
	for _, m := range v1.Medications {
		v2.Medications = append(v2.Medications, Medication{Name: m})
	}
	return json.Marshal(v2)
}
