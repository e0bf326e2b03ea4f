package console

import "fmt"

// manageCatalog is the strings of the programme manager's, archivist's
// and auditor's pages (pages_manage.go), merged into catalog at init.
var manageCatalog = map[string]map[string]string{
	"nav.feeds":     {"fr": "Flux", "en": "Feeds"},
	"nav.directory": {"fr": "Répertoire", "en": "Directory"},

	"programme.urgent":          {"fr": "Alertes urgentes non prises en charge", "en": "Unacknowledged urgent alerts"},
	"programme.unacked.hint":    {"fr": "Alertes de priorité haute de toutes les files ; elles sont escaladées si personne ne les prend en charge. La colonne « Alertes en attente » des charges de cas compte aussi celles de priorité normale.", "en": "High-priority alerts of every queue; they are escalated when nobody acknowledges them. The caseloads' “Pending alerts” column also counts normal-priority ones."},
	"programme.dead.unreadable": {"fr": "Les livraisons en échec n'ont pas pu être lues ; réessayez dans un instant.", "en": "The failed deliveries could not be read; try again shortly."},

	"feeds.title":             {"fr": "Flux hospitaliers et livraisons", "en": "Hospital feeds and deliveries"},
	"feeds.hospital":          {"fr": "Santé des flux hospitaliers (HL7)", "en": "Hospital feed health (HL7)"},
	"feeds.intro":             {"fr": "Dernier message reçu de chaque établissement ; un flux silencieux pendant ses heures d'activité, ou qui saute des numéros de contrôle, déclenche une alarme.", "en": "Last message from each facility; a feed silent during its hours, or skipping control ids, raises an alarm."},
	"feeds.none":              {"fr": "Aucun établissement configuré.", "en": "No facility configured."},
	"feeds.facility":          {"fr": "Établissement", "en": "Facility"},
	"feeds.last":              {"fr": "Dernier message", "en": "Last message"},
	"feeds.silence":           {"fr": "Silence depuis", "en": "Silent for"},
	"feeds.hours":             {"fr": "Heures d'activité", "en": "Hours"},
	"feeds.state":             {"fr": "État", "en": "State"},
	"feeds.alarms":            {"fr": "Alarmes en attente", "en": "Pending alarms"},
	"feeds.never":             {"fr": "jamais reçu", "en": "never heard from"},
	"feeds.minutes":           {"fr": "%d min", "en": "%d min"},
	"feeds.window":            {"fr": "de %d h à %d h", "en": "%d:00 to %d:00"},
	"feeds.silent":            {"fr": "Silencieux", "en": "Silent"},
	"feeds.waiting":           {"fr": "En attente d'un premier message", "en": "Waiting for a first message"},
	"feeds.ok":                {"fr": "Normal", "en": "Normal"},
	"feeds.closed":            {"fr": "Hors des heures d'activité", "en": "Outside its hours"},
	"feeds.rule":              {"fr": "Alarme de silence après %d min sans message pendant les heures d'activité.", "en": "Silence alarm after %d min without a message during the hours."},
	"feeds.dead":              {"fr": "Livraisons webhook en échec", "en": "Failed webhook deliveries"},
	"feeds.dead.intro":        {"fr": "Notifications aux partenaires qui ont échoué à chaque essai ; « Réessayer » les remet dans la file d'envoi.", "en": "Partner notifications that failed every attempt; “Retry” puts them back in the send queue."},
	"feeds.dead.none":         {"fr": "Aucune livraison en échec.", "en": "No failed delivery."},
	"feeds.dead.when":         {"fr": "Échec", "en": "Failed"},
	"feeds.dead.to":           {"fr": "Partenaire", "en": "Partner"},
	"feeds.dead.attempts":     {"fr": "Essais", "en": "Attempts"},
	"feeds.dead.error":        {"fr": "Erreur", "en": "Error"},
	"feeds.dead.retry":        {"fr": "Réessayer", "en": "Retry"},
	"feeds.aside":             {"fr": "Événements mis de côté", "en": "Set-aside events"},
	"feeds.aside.intro":       {"fr": "Événements qu'une projection n'a pas pu appliquer (toujours la même erreur) ; elle a continué sans eux. L'équipe technique doit les examiner.", "en": "Events a projection could not apply (the same error each time); it went on without them. The technical team must look at them."},
	"feeds.aside.none":        {"fr": "Aucun événement mis de côté.", "en": "No set-aside event."},
	"feeds.aside.when":        {"fr": "Quand", "en": "When"},
	"feeds.aside.projection":  {"fr": "Projection", "en": "Projection"},
	"feeds.aside.position":    {"fr": "Position", "en": "Position"},
	"feeds.aside.type":        {"fr": "Type", "en": "Type"},
	"flash.aside.applied":     {"fr": "L'événement a été appliqué : il n'est plus mis de côté.", "en": "The event was applied: it is no longer set aside."},
	"flash.aside.failed":      {"fr": "L'événement a encore échoué ; il reste mis de côté avec la nouvelle erreur.", "en": "The event failed again; it stays set aside with the new error."},
	"flash.retried":           {"fr": "Livraison remise dans la file d'envoi.", "en": "Delivery put back in the send queue."},
	"directory.title":         {"fr": "Répertoire du personnel et des partenaires", "en": "Staff and partner directory"},
	"directory.partner.new":   {"fr": "Inscrire un partenaire", "en": "Register a partner"},
	"directory.staff.new":     {"fr": "Inscrire un membre du personnel", "en": "Register a staff member"},
	"directory.id":            {"fr": "Identifiant", "en": "Id"},
	"directory.name":          {"fr": "Nom", "en": "Name"},
	"directory.category":      {"fr": "Catégorie", "en": "Category"},
	"directory.role":          {"fr": "Rôle", "en": "Role"},
	"directory.webhook":       {"fr": "Adresse webhook (facultatif)", "en": "Webhook URL (optional)"},
	"directory.register":      {"fr": "Inscrire", "en": "Register"},
	"directory.adminonly":     {"fr": "Seul l'administrateur inscrit le personnel et renouvelle ou révoque les jetons.", "en": "Only the administrator registers staff and rotates or revokes tokens."},
	"directory.partners":      {"fr": "Partenaires", "en": "Partners"},
	"directory.staff":         {"fr": "Personnel", "en": "Staff"},
	"directory.expiry":        {"fr": "Jeton valide jusqu'au", "en": "Token valid until"},
	"directory.noexpiry":      {"fr": "sans échéance", "en": "no expiry"},
	"directory.credential":    {"fr": "Jeton d'accès", "en": "Access token"},
	"directory.rotate":        {"fr": "Renouveler", "en": "Rotate"},
	"directory.revoke":        {"fr": "Révoquer", "en": "Revoke"},
	"directory.issued":        {"fr": "Nouveau jeton d'accès", "en": "New access token"},
	"directory.issued.for":    {"fr": "Jeton de %s (%s) :", "en": "Token of %s (%s):"},
	"directory.token":         {"fr": "Jeton (à remettre à la personne)", "en": "Token (give it to the person)"},
	"directory.issued.once":   {"fr": "Il n'est affiché qu'une fois : copiez-le maintenant. Relais n'en garde que l'empreinte ; l'ancien jeton ne fonctionne plus.", "en": "It is shown only once: copy it now. Relais keeps only its hash; the old token no longer works."},
	"directory.expires":       {"fr": "Il expire le %s.", "en": "It expires on %s."},
	"flash.registered":        {"fr": "Inscription enregistrée.", "en": "Registration recorded."},
	"flash.rotated":           {"fr": "Jeton renouvelé.", "en": "Token rotated."},
	"flash.revoked":           {"fr": "Jeton révoqué : il ne fonctionne plus.", "en": "Token revoked: it no longer works."},
	"frozen.title":            {"fr": "Liste figée à une date", "en": "List frozen at a date"},
	"frozen.back":             {"fr": "Retour à la liste d'aujourd'hui", "en": "Back to today's list"},
	"frozen.at":               {"fr": "La liste telle qu'elle était le", "en": "The list as it stood on"},
	"frozen.go":               {"fr": "Comparer avec aujourd'hui", "en": "Compare with today"},
	"frozen.hint":             {"fr": "Relais rejoue le registre jusqu'à ce qui était inscrit à cet instant (heure de Montréal) et compare avec la liste d'aujourd'hui.", "en": "Relais replays the ledger up to what was recorded at that instant (Montreal time) and compares with today's list."},
	"frozen.summary":          {"fr": "Liste au %s : %d événements rejoués (positions 1 à %d).", "en": "List as of %s: %d events replayed (positions 1 to %d)."},
	"frozen.entered.n":        {"fr": "%d entrés", "en": "%d entered"},
	"frozen.left.n":           {"fr": "%d sortis", "en": "%d left"},
	"frozen.moved.n":          {"fr": "%d changements de rang", "en": "%d rank changes"},
	"frozen.empty":            {"fr": "Rien n'était encore inscrit au registre à cet instant.", "en": "Nothing was recorded in the ledger yet at that instant."},
	"frozen.then":             {"fr": "Alors", "en": "Then"},
	"frozen.now":              {"fr": "Aujourd'hui", "en": "Today"},
	"frozen.change":           {"fr": "Changement", "en": "Change"},
	"frozen.visit":            {"fr": "1 visite", "en": "1 visit"},
	"frozen.visits":           {"fr": "%d visites", "en": "%d visits"},
	"frozen.entered":          {"fr": "Entré dans la liste", "en": "Entered the list"},
	"frozen.left":             {"fr": "Sorti de la liste", "en": "Left the list"},
	"frozen.up":               {"fr": "Monté de %d", "en": "Up %d"},
	"frozen.down":             {"fr": "Descendu de %d", "en": "Down %d"},
	"frozen.same":             {"fr": "Même rang", "en": "Same rank"},
	"archive.exclusions":      {"fr": "Visites exclues (motifs non chroniques) :", "en": "Visits left out (non-chronic reasons):"},
	"archive.exclusions.none": {"fr": "aucune", "en": "none"},
	"reasoncat.obstetric":     {"fr": "obstétrique (grossesse)", "en": "obstetric (pregnancy)"},

	"audit.verify":             {"fr": "Intégrité du registre", "en": "Ledger integrity"},
	"audit.verify.intro":       {"fr": "Relais recalcule la chaîne d'empreintes de chaque flux, vérifie que les positions se suivent sans trou, qu'aucun événement n'est inscrit deux fois et que chacun porte le sceau de Relais (comme « relais verify »).", "en": "Relais recomputes every stream's hash chain, checks that positions follow without a gap, that no event is stored twice and that each carries Relais's seal (as “relais verify” does)."},
	"audit.verify.run":         {"fr": "Vérifier maintenant", "en": "Verify now"},
	"audit.verify.running":     {"fr": "En cours", "en": "Running"},
	"audit.verify.progress":    {"fr": "position %d sur %d", "en": "position %d of %d"},
	"audit.verify.never":       {"fr": "Aucune vérification depuis le démarrage.", "en": "No verification since the start."},
	"audit.verify.ok":          {"fr": "Intact", "en": "Intact"},
	"audit.verify.okdetail":    {"fr": "%d événements dans %d flux, positions 1 à %d sans trou, chaînes d'empreintes intactes, aucun doublon.", "en": "%d events in %d streams, positions 1 to %d without a gap, hash chains intact, no duplicate."},
	"audit.verify.sealed":      {"fr": "%d événements scellés par Relais (clé %s).", "en": "%d events sealed by Relais (key %s)."},
	"audit.verify.demo":        {"fr": "La clé est la clé de démonstration publique : les sceaux ne prouvent rien.", "en": "The key is the public demo key: the seals prove nothing."},
	"audit.verify.noseal":      {"fr": "Sceaux non vérifiés : Relais tourne sans clé de scellement.", "en": "Seals not checked: Relais runs without a seal key."},
	"audit.verify.broken":      {"fr": "ALTÉRÉ — premier événement en défaut :", "en": "ALTERED — first bad event:"},
	"audit.verify.failed":      {"fr": "La vérification n'a pas pu se terminer :", "en": "The verification could not finish:"},
	"audit.verify.when":        {"fr": "Commencée le %s, terminée le %s, par %s.", "en": "Started %s, finished %s, by %s."},
	"flash.verify.started":     {"fr": "Vérification lancée.", "en": "Verification started."},
	"flash.verify.running":     {"fr": "Une vérification est déjà en cours.", "en": "A verification is already running."},
	"audit.replay":             {"fr": "Rejouer une projection à une date", "en": "Replay a projection to a date"},
	"audit.replay.projection":  {"fr": "Projection", "en": "Projection"},
	"audit.replay.at":          {"fr": "Jusqu'au (heure de Montréal)", "en": "Up to (Montreal time)"},
	"audit.replay.client":      {"fr": "Identifiant du client (dossier client seulement)", "en": "Client id (client file only)"},
	"audit.replay.go":          {"fr": "Rejouer", "en": "Replay"},
	"audit.replay.hint":        {"fr": "Relais reconstruit la projection à partir du registre, jusqu'à ce qui était inscrit à cet instant. Rejouer un dossier client est une consultation inscrite au journal d'accès.", "en": "Relais rebuilds the projection from the ledger, up to what was recorded at that instant. Replaying a client file is a read written to the access log."},
	"audit.replayed":           {"fr": "%s au %s", "en": "%s as of %s"},
	"audit.replayed.stats":     {"fr": "%d événements rejoués (positions 1 à %d, dernier inscrit le %s)", "en": "%d events replayed (positions 1 to %d, last recorded %s)"},
	"audit.replayed.digest":    {"fr": "empreinte", "en": "digest"},
	"audit.replayed.listed":    {"fr": "%d personnes dans la liste des grands utilisateurs (les 10 premières ci-dessous).", "en": "%d people in the top-users list (the first 10 below)."},
	"audit.replayed.clients":   {"fr": "%d dossiers clients à cet instant.", "en": "%d client files at that instant."},
	"audit.replayed.file":      {"fr": "Dossier %s (%s %s) : %d visites à l'urgence, %d médicaments.", "en": "File %s (%s %s): %d ED visits, %d medications."},
	"audit.replayed.nofile":    {"fr": "Ce client n'avait pas de dossier à cet instant.", "en": "This client had no file at that instant."},
	"audit.replayed.directory": {"fr": "%d membres du personnel et %d partenaires inscrits.", "en": "%d staff members and %d partners registered."},
	"projection.reports":       {"fr": "Rapports (grands utilisateurs, résultats)", "en": "Reports (top users, outcomes)"},
	"projection.caseload":      {"fr": "Charges de cas", "en": "Caseloads"},
	"projection.clientfile":    {"fr": "Dossier client", "en": "Client file"},
	"projection.directory":     {"fr": "Répertoire", "en": "Directory"},
	"err.replay.long":          {"fr": "Ce registre est trop long pour être rejoué dans la console (2 minutes au plus). Utilisez « relais replay --until » sur le serveur.", "en": "This ledger is too long to replay in the console (2 minutes at most). Use “relais replay --until” on the server."},
	"view.console.replay":      {"fr": "Dossier rejoué à une date (console)", "en": "File replayed to a date (console)"},
}

// people is one table of the directory page.
type peopleTable struct {
	V       view
	Kind    string
	Entries any
	Title   string
	ID      string
}

func init() {
	for k, v := range manageCatalog {
		if _, dup := catalog[k]; dup {
			panic(fmt.Sprintf("console: catalog key %q defined twice", k))
		}
		catalog[k] = v
	}
	funcs["minutes"] = func(seconds int64) int64 { return seconds / 60 }
	funcs["people"] = func(v view, kind string, entries any, title, id string) peopleTable {
		return peopleTable{V: v, Kind: kind, Entries: entries, Title: title, ID: id}
	}
}
