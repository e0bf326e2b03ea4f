package console

import "fmt"

// catalogCare is the strings of the case manager's pages added with the
// search, the enrolment, the assessment and its ecomap, the plan, and the
// alert summaries said from their facts; init merges it into catalog (a
// key defined twice is a programming error).
var catalogCare = map[string]map[string]string{
	// Mes clients: the search across the territory.
	"clients.caseload":       {"fr": "Ma charge de cas", "en": "My caseload"},
	"clients.search.results": {"fr": "Résultats de la recherche", "en": "Search results"},
	"clients.search.hint":    {"fr": "Cherche dans tout le territoire : nom, numéro d'assurance maladie (RAMQ) ou identifiant du client. Ouvrir un dossier est inscrit au journal.", "en": "Searches the whole territory: name, health-insurance number (RAMQ) or client id. Opening a file is logged."},
	"clients.search.none":    {"fr": "Aucun client ne correspond à cette recherche.", "en": "No client matches this search."},
	"clients.search.short":   {"fr": "Entrez au moins 2 caractères d'un nom, d'un numéro d'assurance maladie ou d'un identifiant.", "en": "Type at least 2 characters of a name, a health-insurance number or an id."},
	"clients.search.limit":   {"fr": "Seuls les %d premiers résultats sont affichés ; précisez la recherche.", "en": "Only the first %d results are shown; narrow the search."},
	"clients.search.mine":    {"fr": "dans ma charge de cas", "en": "in my caseload"},
	"clients.born":           {"fr": "Naissance", "en": "Born"},
	"clients.numbers":        {"fr": "Numéros", "en": "Numbers"},
	"clients.cm":             {"fr": "Gestionnaire de cas", "en": "Case manager"},
	"clients.nocm":           {"fr": "aucun", "en": "none"},
	"clients.new":            {"fr": "Nouveau client", "en": "New client"},

	// Nouveau client.
	"new.title":     {"fr": "Nouveau client", "en": "New client"},
	"new.intro":     {"fr": "Inscrire une personne au registre de Relais. Son numéro d'assurance maladie relie ses visites à l'urgence, passées et à venir.", "en": "Register a person with Relais. Their health-insurance number links their ED visits, past and to come."},
	"new.given":     {"fr": "Prénom", "en": "Given name"},
	"new.family":    {"fr": "Nom de famille", "en": "Family name"},
	"new.birth":     {"fr": "Date de naissance (facultatif)", "en": "Date of birth (optional)"},
	"new.ramq":      {"fr": "Numéro d'assurance maladie (RAMQ)", "en": "Health-insurance number (RAMQ)"},
	"new.ramq.hint": {"fr": "Tel qu'il est sur la carte, p. ex. BELH 5501 0112.", "en": "As on the card, e.g. BELH 5501 0112."},
	"new.submit":    {"fr": "Inscrire au registre", "en": "Register"},
	"new.back":      {"fr": "Retour à mes clients", "en": "Back to my clients"},

	// Inscription au programme, with consents.
	"file.enrol":          {"fr": "Inscription au programme Défi Santé", "en": "Enrolment in the Défi Santé programme"},
	"file.enrol.consents": {"fr": "Consentements donnés par le client", "en": "Consents the client gives"},
	"file.enrol.hint":     {"fr": "Chaque consentement peut être retiré plus tard. Sans le consentement « Famille », la famille n'est pas appelée lors d'une visite à l'urgence.", "en": "Each consent can be withdrawn later. Without the “Family” consent, the family is not called when the client is at the ED."},
	"file.enrol.flag":     {"fr": "Le client sera aussi signalé au programme : ses arrivées à l'urgence alerteront son ou sa gestionnaire de cas.", "en": "The client will also be flagged for the programme: their ED arrivals will alert their case manager."},
	"file.enrol.me":       {"fr": "Je serai son ou sa gestionnaire de cas", "en": "I will be the case manager"},
	"file.enrol.go":       {"fr": "Inscrire au programme", "en": "Enrol"},

	// Évaluation and the support network.
	"assess.title":      {"fr": "Évaluation des besoins", "en": "Needs assessment"},
	"assess.intro":      {"fr": "Le réseau de soutien de la personne, exploré avec l'écocarte : les personnes les plus significatives de sa famille, ses amis, son médecin, son pharmacien, les organismes, ses loisirs.", "en": "The person's support network, explored with the ecomap: the most significant people in their family, friends, doctor, pharmacist, organizations, pastimes."},
	"assess.summary":    {"fr": "Résumé (besoins prioritaires, raisons des visites à l'urgence)", "en": "Summary (priority needs, why the ED visits)"},
	"assess.network":    {"fr": "Réseau de soutien", "en": "Support network"},
	"assess.member":     {"fr": "Personne ou ressource %d", "en": "Person or resource %d"},
	"assess.category":   {"fr": "Catégorie", "en": "Category"},
	"assess.name":       {"fr": "Nom", "en": "Name"},
	"assess.partner":    {"fr": "Partenaire du répertoire", "en": "Partner from the directory"},
	"assess.nopartner":  {"fr": "— aucun —", "en": "— none —"},
	"assess.phone":      {"fr": "Téléphone", "en": "Phone"},
	"assess.hint":       {"fr": "Une ligne sans nom ni partenaire est ignorée ; un partenaire choisi sans nom prend le nom du répertoire.", "en": "A line without a name or partner is left out; a partner chosen without a name takes the directory's name."},
	"assess.submit":     {"fr": "Enregistrer l'évaluation", "en": "Save the assessment"},
	"assess.back":       {"fr": "Retour au dossier", "en": "Back to the file"},
	"file.assess":       {"fr": "Faire l'évaluation", "en": "Do the assessment"},
	"file.reassess":     {"fr": "Nouvelle évaluation", "en": "New assessment"},
	"file.network":      {"fr": "Réseau de soutien (écocarte)", "en": "Support network (ecomap)"},
	"file.network.none": {"fr": "Pas encore d'évaluation : le réseau de soutien n'est pas connu.", "en": "No assessment yet: the support network is not known."},
	"file.assessed":     {"fr": "Évaluation du", "en": "Assessment of"},
	"file.by":           {"fr": "par", "en": "by"},
	"eco.title":         {"fr": "Écocarte de %s", "en": "Ecomap of %s"},
	"eco.desc":          {"fr": "%s au centre, relié(e) à %d personnes ou ressources : %s.", "en": "%s in the centre, linked to %d people or resources: %s."},
	"eco.empty":         {"fr": "%s au centre ; aucune personne ni ressource connue.", "en": "%s in the centre; no person or resource known."},
	"eco.table":         {"fr": "Réseau de soutien, en tableau", "en": "Support network, as a table"},

	// Plan de services and objectives.
	"file.plan.create": {"fr": "Créer le plan de services individualisé", "en": "Create the individualized service plan"},
	"file.plan.id":     {"fr": "Plan", "en": "Plan"},
	"file.obj.add":     {"fr": "Ajouter un objectif", "en": "Add an objective"},
	"file.obj.desc":    {"fr": "Objectif", "en": "Objective"},
	"file.obj.means":   {"fr": "Moyens", "en": "Means"},
	"file.obj.resp":    {"fr": "Partenaire responsable (facultatif)", "en": "Responsible partner (optional)"},
	"file.obj.target":  {"fr": "Échéance (facultatif)", "en": "Target date (optional)"},
	"file.obj.save":    {"fr": "Ajouter l'objectif", "en": "Add the objective"},
	"file.obj.due":     {"fr": "échéance", "en": "due"},

	"flash.client.registered": {"fr": "Client inscrit au registre.", "en": "Client registered."},
	"flash.enrolled":          {"fr": "Client inscrit au programme ; consentements enregistrés.", "en": "Client enrolled; consents recorded."},
	"flash.assessment":        {"fr": "Évaluation enregistrée.", "en": "Assessment saved."},
	"flash.plan":              {"fr": "Plan de services créé.", "en": "Service plan created."},
	"flash.objective.added":   {"fr": "Objectif ajouté au plan.", "en": "Objective added to the plan."},

	"kind.doctor.notified": {"fr": "Message du gestionnaire de cas", "en": "From the case manager"},

	// Alert summaries, said from the alert's facts (queue.summary.*).
	"queue.summary.arrival":    {"fr": "Arrivée à l'urgence : %s — %s, %s.", "en": "ED arrival: %s — %s, %s."},
	"queue.summary.reason":     {"fr": "Motif : %s.", "en": "Reason: %s."},
	"queue.summary.family.yes": {"fr": "Famille : consentement donné.", "en": "Family: consent given, may be contacted."},
	"queue.summary.family.no":  {"fr": "Ne pas contacter la famille (pas de consentement).", "en": "Do not contact the family (no consent)."},
	"queue.summary.doctor":     {"fr": "Votre patient(e) %s est à l'urgence — %s, %s.", "en": "Your patient %s is at the ED — %s, %s."},
	"queue.summary.other":      {"fr": "Le client %s est à l'urgence depuis le %s.", "en": "Client %s has been at the ED since %s."},
	"queue.summary.correction": {"fr": "Correction — %s", "en": "Correction — %s"},
	"queue.summary.concern":    {"fr": "Préoccupation du pharmacien (client %s) : %s", "en": "Pharmacist's concern (client %s): %s"},
	"queue.summary.evaluation": {"fr": " — évaluation médicale requise", "en": " — needs a medical evaluation"},
	"queue.summary.notified":   {"fr": "Message du gestionnaire de cas au sujet de %s : %s", "en": "From the case manager about %s: %s"},
	"queue.summary.objective":  {"fr": "Objectif %s atteint (client %s).", "en": "Objective %s met (client %s)."},
	"queue.summary.referral":   {"fr": "Nouvelle demande de service %s pour le client %s : %s", "en": "New referral %s for client %s: %s"},
	"queue.summary.accepted":   {"fr": "Demande %s acceptée par %s (client %s).", "en": "Referral %s accepted by %s (client %s)."},
	"queue.summary.declined":   {"fr": "Demande %s refusée par %s (client %s).", "en": "Referral %s declined by %s (client %s)."},
	"queue.summary.note":       {"fr": " Note : %s", "en": " Note: %s"},
	"queue.summary.gap":        {"fr": "Flux HL7 %s : messages %d à %d manquants — des arrivées ont pu être manquées.", "en": "HL7 feed %s: messages %d to %d missing — arrivals may have been missed."},
	"queue.summary.silent":     {"fr": "Flux HL7 %s silencieux depuis le %s — des arrivées sont peut-être manquées.", "en": "HL7 feed %s silent since %s — arrivals may be missed."},
}

func init() {
	for k, v := range catalogCare {
		if _, dup := catalog[k]; dup {
			panic(fmt.Sprintf("console: catalog key %q defined twice (catalog_care.go and another catalog)", k))
		}
		catalog[k] = v
	}
}
