"""Wording for the synthetic documents, in English and German (our customers' languages)."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "claim_title": "Motor and Property Claim Notification",
        "claim_no": "Claim number:",
        "s_holder": "1. Policyholder",
        "name": "Name:",
        "address": "Address:",
        "policy_no": "Policy number:",
        "phone": "Phone:",
        "email": "Email:",
        "birth": "Date of birth:",
        "s_incident": "2. Incident",
        "loss_date": "Date of loss:",
        "place": "Place:",
        "plate": "Vehicle plate:",
        "time": "Time:",
        "loss_type": "Type of loss:",
        "description": "Description of the incident:",
        "s_items": "3. Damaged items",
        "item": "Item",
        "qty": "Qty",
        "unit": "Unit price",
        "amount": "Amount",
        "total": "Total claimed",
        "s_bank": "4. Payment details",
        "iban": "IBAN:",
        "holder": "Account holder:",
        "declaration": (
            "I declare that the information given above is true and complete to the best of my "
            "knowledge. I understand that false statements may void the cover."
        ),
        "place_date": "Place, date:",
        "signature": "Signature:",
        "schedule_title": "Policy Schedule",
        "policyholder": "Policyholder:",
        "period": "Period of insurance:",
        "insured_object": "Insured object:",
        "payment": "Payment:",
        "payment_value": "annually by direct debit",
        "cover": "Cover",
        "sum_insured": "Sum insured",
        "deductible": "Deductible",
        "premium": "Premium",
        "total_premium": "Total annual premium",
        "to": "to",
        "page": "Page",
        "of": "of",
        "form": "Form",
        "dear": "Dear",
        "regards": "Kind regards",
        "claims_team": "Claims Department",
        "your_claim": "Your claim",
        "policy": "Policy",
        "reference": "Our reference:",
        "registered": "Registered office: {city} | Company no. {no} | VAT ID GB{vat}",
    },
    "de": {
        "claim_title": "Schadenmeldung Kfz und Sachversicherung",
        "claim_no": "Schadennummer:",
        "s_holder": "1. Versicherungsnehmer",
        "name": "Name:",
        "address": "Anschrift:",
        "policy_no": "Versicherungsschein-Nr.:",
        "phone": "Telefon:",
        "email": "E-Mail:",
        "birth": "Geburtsdatum:",
        "s_incident": "2. Schadenereignis",
        "loss_date": "Schadentag:",
        "place": "Schadenort:",
        "plate": "Kennzeichen:",
        "time": "Uhrzeit:",
        "loss_type": "Schadenart:",
        "description": "Schilderung des Hergangs:",
        "s_items": "3. Beschädigte Gegenstände",
        "item": "Gegenstand",
        "qty": "Anz.",
        "unit": "Einzelpreis",
        "amount": "Betrag",
        "total": "Gesamtforderung",
        "s_bank": "4. Bankverbindung",
        "iban": "IBAN:",
        "holder": "Kontoinhaber:",
        "declaration": (
            "Ich versichere, dass die obigen Angaben vollständig und wahrheitsgemäß sind. "
            "Falsche Angaben können zum Verlust des Versicherungsschutzes führen."
        ),
        "place_date": "Ort, Datum:",
        "signature": "Unterschrift:",
        "schedule_title": "Versicherungsschein",
        "policyholder": "Versicherungsnehmer:",
        "period": "Versicherungsdauer:",
        "insured_object": "Versichertes Objekt:",
        "payment": "Zahlungsweise:",
        "payment_value": "jährlich per Lastschrift",
        "cover": "Deckung",
        "sum_insured": "Versicherungssumme",
        "deductible": "Selbstbeteiligung",
        "premium": "Beitrag",
        "total_premium": "Jahresbeitrag gesamt",
        "to": "bis",
        "page": "Seite",
        "of": "von",
        "form": "Formular",
        "dear": "Sehr geehrte Damen und Herren,",
        "regards": "Mit freundlichen Grüßen",
        "claims_team": "Schadenabteilung",
        "your_claim": "Ihr Schadenfall",
        "policy": "Vertrag",
        "reference": "Unser Zeichen:",
        "registered": "Sitz der Gesellschaft: {city} | Amtsgericht HRB {no} | USt-IdNr. DE{vat}",
    },
}

LOSS_TYPES: dict[str, tuple[str, ...]] = {
    "en": ("Collision", "Theft", "Glass", "Fire", "Storm", "Water"),
    "de": ("Unfall", "Diebstahl", "Glasbruch", "Brand", "Sturm", "Leitungswasser"),
}

DAMAGE_ITEMS: tuple[tuple[str, str, float, float], ...] = (
    # english, german, low, high (unit price)
    ("Windscreen replacement", "Austausch Windschutzscheibe", 300, 1200),
    ("Front bumper repair", "Reparatur Stoßfänger vorne", 250, 1500),
    ("Headlight unit, left", "Scheinwerfer links", 150, 900),
    ("Paintwork, rear door", "Lackierung Tür hinten", 200, 1100),
    ("Towing service", "Abschleppdienst", 90, 400),
    ("Rental car, per day", "Mietwagen pro Tag", 35, 80),
    ("Laminate flooring", "Laminatboden", 20, 60),
    ("Laptop computer", "Notebook", 400, 2200),
    ("Bicycle", "Fahrrad", 300, 3000),
    ("Door lock replacement", "Austausch Türschloss", 80, 350),
    ("Expert assessment", "Sachverständigengutachten", 300, 900),
    ("Drying equipment hire", "Miete Trocknungsgeräte", 40, 120),
)

COVERAGES: tuple[tuple[str, str], ...] = (
    ("Third-party liability", "Kfz-Haftpflicht"),
    ("Comprehensive cover", "Vollkasko"),
    ("Partial cover", "Teilkasko"),
    ("Personal accident", "Insassenunfall"),
    ("Breakdown assistance", "Schutzbrief"),
    ("Legal expenses", "Rechtsschutz"),
    ("Household contents", "Hausrat"),
    ("Glass breakage", "Glasbruch"),
    ("Natural hazards", "Elementarschäden"),
)

INSURED_OBJECTS: dict[str, tuple[str, ...]] = {
    "en": ("Passenger car, {plate}", "Residential building, {street}",
           "Household contents, {street}"),
    "de": ("Pkw, Kennzeichen {plate}", "Wohngebäude, {street}", "Hausrat, {street}"),
}

DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "en": (
        "While reversing out of a parking space at {place} the vehicle hit a concrete bollard. "
        "The rear bumper and the left rear door were damaged.",
        "During the storm on {date} a branch fell onto the car parked in front of the house "
        "and broke the windscreen.",
        "A water pipe in the kitchen burst overnight. Water spread into the hallway and the "
        "living room and soaked the laminate flooring.",
        "The bicycle was locked outside the station at {place} and was stolen between 8 am "
        "and 6 pm. The theft was reported to the police.",
    ),
    "de": (
        "Beim Ausparken in {place} bin ich gegen einen Betonpoller gefahren. Dabei wurden der "
        "hintere Stoßfänger und die linke hintere Tür beschädigt.",
        "Während des Sturms am {date} ist ein Ast auf das vor dem Haus geparkte Fahrzeug "
        "gefallen und hat die Windschutzscheibe beschädigt.",
        "In der Küche ist nachts ein Wasserrohr geplatzt. Das Wasser lief in den Flur und das "
        "Wohnzimmer und hat den Laminatboden durchnässt.",
        "Das Fahrrad war am Bahnhof in {place} angeschlossen und wurde zwischen 8 und 18 Uhr "
        "gestohlen. Der Diebstahl wurde bei der Polizei angezeigt.",
    ),
}

# per description above: (index into LOSS_TYPES, indices into DAMAGE_ITEMS that fit it)
INCIDENTS: tuple[tuple[int, tuple[int, ...]], ...] = (
    (0, (1, 2, 3, 4, 5, 10)),
    (4, (0, 3, 5, 10)),
    (5, (6, 11, 7, 10)),
    (1, (8, 9)),
)

LETTER_SUBJECTS: dict[str, tuple[str, ...]] = {
    "en": ("Acknowledgement of your claim", "Request for further documents",
           "Settlement of your claim", "Renewal of your policy"),
    "de": ("Eingangsbestätigung Ihrer Schadenmeldung", "Anforderung weiterer Unterlagen",
           "Regulierung Ihres Schadens", "Verlängerung Ihres Vertrages"),
}

LETTER_PARAGRAPHS: dict[str, tuple[str, ...]] = {
    "en": (
        "Thank you for your notification of {date}. We have registered the loss under the "
        "claim number {claim} and your case is being handled by our claims team.",
        "To assess the claim we kindly ask you to send us the repair estimate, photographs of "
        "the damage and, where the police were involved, the police report number.",
        "Based on the documents received we have calculated a settlement of {amount}. The "
        "amount will be transferred to the account ending in {iban_tail} within five working "
        "days.",
        "Please note that the agreed deductible of {deductible} has been taken into account. "
        "Your no-claims discount is not affected by this payment.",
        "Your policy {policy} will renew automatically on {renewal}. The new annual premium "
        "is {premium}. No action is needed if you wish to continue the cover.",
        "If you have any questions, please call us on {phone} or write to us quoting the "
        "reference above. We are happy to help.",
    ),
    "de": (
        "vielen Dank für Ihre Schadenmeldung vom {date}. Wir haben den Schaden unter der "
        "Schadennummer {claim} erfasst; Ihr Fall wird von unserer Schadenabteilung bearbeitet.",
        "Für die Prüfung bitten wir Sie, uns den Kostenvoranschlag, Fotos der Schäden und, "
        "falls die Polizei hinzugezogen wurde, das Aktenzeichen der Polizei zu senden.",
        "Auf Grundlage der eingereichten Unterlagen haben wir eine Entschädigung von {amount} "
        "errechnet. Der Betrag wird innerhalb von fünf Werktagen auf das Konto mit der "
        "Endung {iban_tail} überwiesen.",
        "Bitte beachten Sie, dass die vereinbarte Selbstbeteiligung von {deductible} "
        "berücksichtigt wurde. Ihr Schadenfreiheitsrabatt bleibt davon unberührt.",
        "Ihr Vertrag {policy} verlängert sich automatisch zum {renewal}. Der neue Jahresbeitrag "
        "beträgt {premium}. Möchten Sie den Schutz fortführen, ist nichts weiter zu tun.",
        "Bei Fragen erreichen Sie uns unter {phone} oder schriftlich unter Angabe des obigen "
        "Zeichens. Wir helfen Ihnen gerne weiter.",
    ),
}

SCHEDULE_NOTES: dict[str, tuple[str, ...]] = {
    "en": (
        "This schedule forms part of your policy and must be read together with the policy "
        "wording and any endorsements. Please check the details and tell us about any errors.",
        "Cover applies only while the premium is paid. Claims must be reported without delay.",
    ),
    "de": (
        "Dieser Versicherungsschein ist Bestandteil Ihres Vertrages und gilt zusammen mit den "
        "Versicherungsbedingungen. Bitte prüfen Sie die Angaben und melden Sie uns Fehler.",
        "Der Versicherungsschutz besteht nur bei rechtzeitiger Zahlung des Beitrags.",
    ),
}

ID_LABELS: dict[str, tuple[str, ...]] = {
    # title, surname, given names, date of birth, nationality, document no., expiry
    "en": ("IDENTITY CARD", "Surname", "Given names", "Date of birth", "Nationality",
           "Document no.", "Date of expiry"),
    "de": ("PERSONALAUSWEIS", "Name", "Vornamen", "Geburtstag", "Staatsangehörigkeit",
           "Ausweisnummer", "Gültig bis"),
}

# --- invoices from repairers and the claims bordereau (training data) --------------------
REPAIRERS: tuple[str, ...] = (
    "Autohaus Berger GmbH", "Kfz-Meisterbetrieb Lindner", "Glasservice Nord GmbH",
    "Brightside Motor Repairs Ltd", "City Glazing Services Ltd", "Harper & Sons Builders Ltd",
    "Elektro Wagner GmbH", "Dachdeckerei Krause & Co. KG", "Riverside Bodyshop Ltd",
    "Sanitär Hoffmann GmbH", "Swift Recovery Services", "Trocknungstechnik Ost GmbH",
)

BROKERS: tuple[str, ...] = ("Aon Risk Solutions", "Marsh GmbH", "Funk Gruppe", "Gallagher UK",
                    "Ecclesia Holding", "Howden Broking", "Südvers GmbH", "Lockton Companies")

INVOICE_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "INVOICE", "invoice_no": "Invoice no.:", "invoice_date": "Invoice date:",
        "customer": "Customer:", "claim_ref": "Claim reference:", "plate": "Vehicle:",
        "pos": "Pos.", "description": "Description", "qty": "Qty", "unit": "Unit price",
        "amount": "Amount", "labour": "Labour, per hour", "net": "Net amount",
        "vat": "VAT {rate} %", "total": "Invoice total", "payment": "Payment:",
        "paid": "paid", "insurer": "settled by insurer", "account": "on account",
        "terms": "Please pay within {days} days of the invoice date, quoting the invoice "
                 "number. Goods remain our property until paid in full.",
        "bank": "Bank details:", "due": "Due date:",
    },
    "de": {
        "title": "RECHNUNG", "invoice_no": "Rechnungs-Nr.:", "invoice_date": "Rechnungsdatum:",
        "customer": "Kunde:", "claim_ref": "Schadennummer:", "plate": "Fahrzeug:",
        "pos": "Pos.", "description": "Bezeichnung", "qty": "Menge", "unit": "Einzelpreis",
        "amount": "Gesamt", "labour": "Arbeitslohn je Stunde", "net": "Nettobetrag",
        "vat": "MwSt. {rate} %", "total": "Rechnungsbetrag", "payment": "Zahlung:",
        "paid": "bezahlt", "insurer": "über Versicherer", "account": "auf Rechnung",
        "terms": "Zahlbar innerhalb von {days} Tagen ab Rechnungsdatum unter Angabe der "
                 "Rechnungsnummer. Die Ware bleibt bis zur vollständigen Bezahlung unser "
                 "Eigentum.",
        "bank": "Bankverbindung:", "due": "Fällig am:",
    },
}

TABLE_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Claims bordereau", "period": "Reporting period:", "broker": "Broker:",
        "claim": "Claim no.", "date": "Date", "holder": "Policyholder", "type": "Type",
        "status": "Status", "reserve": "Reserve", "paid": "Paid", "total": "Total",
        "note": "All amounts in EUR. Open claims are shown with their current reserve.",
    },
    "de": {
        "title": "Schadenliste", "period": "Berichtszeitraum:", "broker": "Makler:",
        "claim": "Schaden-Nr.", "date": "Datum", "holder": "Versicherungsnehmer",
        "type": "Art", "status": "Status", "reserve": "Reserve", "paid": "Gezahlt",
        "total": "Summe",
        "note": "Alle Beträge in EUR. Offene Schäden mit ihrer aktuellen Reserve.",
    },
}

CLAIM_STATUSES: dict[str, tuple[str, ...]] = {
    "en": ("open", "closed", "reopened", "in review", "paid"),
    "de": ("offen", "geschlossen", "wiedereröffnet", "in Prüfung", "reguliert"),
}

STAMPS: dict[str, tuple[tuple[str, ...], ...]] = {
    # lines of a stamp; "{date}" is filled in
    "en": (("RECEIVED", "{date}"), ("PAID",), ("COPY",), ("CHECKED", "{date}"),
           ("SCANNED",), ("APPROVED",)),
    "de": (("EINGANG", "{date}"), ("BEZAHLT",), ("KOPIE",), ("GEPRÜFT", "{date}"),
           ("GESCANNT",), ("ERLEDIGT",)),
}
