"""Fixed pools of names and texts the synthetic bank draws from: plain ASCII (SEPA's character set) only."""

FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Ida", "Jonas", "Karl", "Lena", "Mia",
    "Noah", "Olga", "Paul", "Quentin", "Rosa", "Sofia", "Tim", "Ute", "Viktor", "Wilma", "Xaver", "Yara", "Zoe",
    "Ahmet", "Aylin", "Chen", "Daria", "Elif", "Fatima", "Giulia", "Hugo", "Ines", "Jakub", "Kerstin", "Luca",
    "Marta", "Nikolai", "Oskar", "Petra", "Rafael", "Sven", "Tanja", "Ulrich", "Vera", "Wolfgang", "Lars", "Ole",
)  # fmt: skip
LAST_NAMES = (
    "Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
    "Koch", "Richter", "Klein", "Wolf", "Schroeder", "Neumann", "Schwarz", "Braun", "Zimmermann", "Krueger",
    "Hartmann", "Lange", "Werner", "Krause", "Lehmann", "Koehler", "Maier", "Kaiser", "Fuchs", "Peters",
    "Yilmaz", "Kaya", "Nowak", "Kowalski", "Rossi", "Garcia", "Dubois", "Jansen", "Novak", "Popescu",
    "Berg", "Frank", "Graf", "Haas", "Jung", "Keller", "Lorenz", "Roth", "Sommer", "Vogel",
)  # fmt: skip
STREETS = (
    "Hauptstrasse", "Schulstrasse", "Gartenweg", "Bahnhofstrasse", "Lindenallee", "Bergstrasse", "Kirchplatz",
    "Rosenweg", "Am Markt", "Ringstrasse", "Waldweg", "Muehlenstrasse", "Feldstrasse", "Parkallee", "Seeweg",
)  # fmt: skip
CITIES = (
    "10115 Berlin", "20095 Hamburg", "50667 Koeln", "60311 Frankfurt am Main", "80331 Muenchen", "70173 Stuttgart",
    "40213 Duesseldorf", "04109 Leipzig", "01067 Dresden", "30159 Hannover", "90402 Nuernberg", "28195 Bremen",
    "44135 Dortmund", "45127 Essen", "53111 Bonn", "69117 Heidelberg", "24103 Kiel", "18055 Rostock",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example")
EMPLOYERS = (
    "Rheinmetall Logistik GmbH", "Stadtwerke Koeln GmbH", "Nordsee Software AG", "Baeckerei Krause", "Klinikum Mitte",
    "Land Berlin", "Autohaus Weber KG", "Deutsche Bahnservice GmbH", "Elbe Consulting GmbH", "Universitaet Bonn",
    "Spedition Lange & Soehne", "Hotel am See GmbH", "Kita Regenbogen e.V.", "Maschinenbau Fuchs GmbH",
    "Rentenversicherung Bund", "Pflegedienst Sommer", "Fintech Labs GmbH", "Gemeinde Rosenheim",
)  # fmt: skip
MERCHANTS = (
    "REWE", "EDEKA", "ALDI SUED", "LIDL", "dm-drogerie markt", "Rossmann", "Shell", "Aral", "IKEA", "MediaMarkt",
    "Amazon EU S.a.r.l.", "Zalando SE", "Deutsche Bahn", "Lieferando", "Starbucks", "McDonald's", "H&M", "Decathlon",
    "Apotheke am Markt", "Baeckerei Krause", "Kino Lichtspiele", "Spotify AB", "Netflix", "Apple.com/bill",
    "Tankstelle Nord", "Biomarkt Gruen", "Kaufland", "Penny", "Netto", "OBI Baumarkt",
)  # fmt: skip
BILLERS = (
    "Vonovia SE Miete", "Stadtwerke Strom & Gas", "Telekom Deutschland", "Vodafone GmbH", "Allianz Versicherung",
    "HUK-Coburg", "Rundfunkbeitrag ARD ZDF", "Fitnessstudio Aktiv", "Techniker Krankenkasse", "Hausverwaltung Roth",
    "Wasserwerke Nord", "1&1 Internet", "Kita Gebuehren", "ADAC e.V.",
)  # fmt: skip
CARD_TEST_MERCHANTS = ("ONLINE*GIFTCARD", "WEBSHOP*VERIFY", "DIGITAL GOODS LTD", "APPSTORE*TOPUP")
P2P_MEMOS = (
    "Dinner", "Rent share", "Thanks!", "Birthday gift", "Holiday", "Concert tickets", "Groceries", "Taxi",
    "Loan repayment", "Pocket money", "Football club", "Flat share utilities", "Wedding gift", "Book club",
)  # fmt: skip
SEPA_MEMOS = (
    "Invoice payment", "Order payment", "Deposit", "Membership fee", "Tuition", "Donation", "Refund",
    "Car purchase instalment", "Holiday apartment", "Consulting fee", "Repair service", "Family support",
)  # fmt: skip
RETURN_REASONS = (("AC04", "Closed account number"), ("AC01", "Incorrect account number"),
                  ("MS03", "Reason not specified"), ("AG01", "Transaction forbidden"))  # fmt: skip
