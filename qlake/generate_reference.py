"""Reference data of the delivery generator (:mod:`qlake.generate`): the sample's product catalog, the name,
city and street pools, and the shares of each kind of row and dirt."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

class Product(NamedTuple):
    product_id: int
    name: str
    category: str
    unit_price: str  # exact decimal text, as delivered


# The sample's catalog, verbatim: names are not unique across ids (9/18 Boots, 10/19 Sandals).
PRODUCTS: tuple[Product, ...] = (
    Product(1, "Laptop", "Electronics", "999.99"),
    Product(2, "Smartphone", "Electronics", "699.99"),
    Product(3, "Tablet", "Electronics", "299.99"),
    Product(4, "Headphones", "Electronics", "99.99"),
    Product(5, "T-Shirt", "Clothing", "19.99"),
    Product(6, "Jeans", "Clothing", "49.99"),
    Product(7, "Dress", "Clothing", "59.99"),
    Product(8, "Sneakers", "Footwear", "79.99"),
    Product(9, "Boots", "Footwear", "129.99"),
    Product(10, "Sandals", "Footwear", "39.99"),
    Product(11, "TV", "Electronics", "899.99"),
    Product(12, "Monitor", "Electronics", "299.99"),
    Product(13, "Printer", "Electronics", "149.99"),
    Product(14, "Camera", "Electronics", "399.99"),
    Product(15, "Hoodie", "Clothing", "29.99"),
    Product(16, "Skirt", "Clothing", "39.99"),
    Product(17, "Blouse", "Clothing", "29.99"),
    Product(18, "Boots", "Footwear", "149.99"),
    Product(19, "Sandals", "Footwear", "29.99"),
    Product(20, "Heels", "Footwear", "59.99"),
    Product(21, "Microwave", "Appliances", "129.99"),
    Product(22, "Coffee Maker", "Appliances", "79.99"),
    Product(23, "Toaster", "Appliances", "39.99"),
    Product(24, "Blender", "Appliances", "49.99"),
    Product(25, "Washing Machine", "Appliances", "499.99"),
    Product(26, "Vacuum Cleaner", "Appliances", "199.99"),
    Product(27, "Iron", "Appliances", "29.99"),
    Product(28, "Hair Dryer", "Appliances", "19.99"),
    Product(29, "Hair Straightener", "Appliances", "39.99"),
    Product(30, "Electric Kettle", "Appliances", "24.99"),
)

FIRST_NAMES = ("Alexander", "Ava", "Emma", "Ethan", "James", "John", "Liam", "Mia", "Michael", "Noah", "Olivia",
               "Sophia", "William", "Isabella")  # fmt: skip
LAST_NAMES = ("Anderson", "Brown", "Davis", "Garcia", "Johnson", "Jones", "Miller", "Moore", "Smith", "Taylor",
              "Thomas", "Williams", "Wilson")  # fmt: skip
AGENT_FIRST_NAMES = ("Andrew", "Chloe", "Christopher", "Daniel", "David", "Emily", "Grace", "Hannah", "Jane",
                     "Jessica", "Joseph", "Laura", "Matthew", "Rachel", "Robert", "Ryan")  # fmt: skip
AGENT_LAST_NAMES = ("Baker", "Clark", "Doe", "Evans", "Hall", "Harris", "Lee", "Lewis", "Martin", "Martinez",
                    "Nelson", "Robinson", "Scott", "Walker", "White", "Young")  # fmt: skip
EMAIL_DOMAINS = ("gmail", "yahoo", "hotmail", "outlook")
# Junk seen glued after ".com"; '"' ends up as a doubled quote inside a quoted field, ' ' as a trailing space.
EMAIL_JUNK_SUFFIXES = (";", "*", "$u", ")x", "[", "^", ":", "%x", "#4r", "]x", "}4", "m", " ", '"', "|", "&",
                       "'", "\\", "<", ">", "(", "{", "/")  # fmt: skip

BRANCH_CITIES = ("New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio",
                 "San Diego", "Dallas", "San Jose", "Austin", "Jacksonville", "Fort Worth", "Columbus",
                 "Charlotte", "Indianapolis", "Seattle", "Denver", "Boston", "Nashville")  # fmt: skip
BRANCH_CLASSES = ("A", "B", "C", "D")

# (city, state, 3-digit postal prefix). Each city owns its prefix, so a postal code maps to exactly one city.
# New England / New Jersey prefixes start with 0: those postal codes must stay strings.
CITIES = (
    ("Boston", "MA", "022"), ("Somerville", "MA", "021"), ("Worcester", "MA", "016"), ("Lowell", "MA", "018"),
    ("Hartford", "CT", "061"), ("New Haven", "CT", "065"), ("Manchester", "CT", "060"),
    ("Burlington", "VT", "054"), ("Rutland", "VT", "057"), ("Bristol", "VT", "055"),
    ("Newark", "NJ", "071"), ("Portland", "ME", "041"), ("Nashua", "NH", "030"), ("Providence", "RI", "029"),
    ("Washington", "DC", "200"), ("Baltimore", "MD", "212"), ("Annapolis", "MD", "214"),
    ("Atlanta", "GA", "303"), ("Savannah", "GA", "314"), ("Nashville", "TN", "372"), ("Memphis", "TN", "381"),
    ("Louisville", "KY", "402"), ("Montgomery", "AL", "361"), ("Little Rock", "AR", "722"),
    ("Tampa", "FL", "336"), ("Orlando", "FL", "328"), ("Oklahoma City", "OK", "731"), ("Moore", "OK", "736"),
    ("Phoenix", "AZ", "850"), ("Tucson", "AZ", "857"), ("Denver", "CO", "802"), ("Arvada", "CO", "800"),
    ("Anchorage", "AK", "995"), ("Oakland", "CA", "946"), ("Sacramento", "CA", "958"), ("San Diego", "CA", "921"),
)  # fmt: skip
# Postal prefixes no city above uses: addresses there are delivered without a city, always.
ORPHAN_POSTAL_PREFIXES = (("VT", "050"), ("ME", "046"), ("NH", "037"), ("CT", "063"))
STREET_NAMES = ("Oak", "Maple", "Cedar", "Pine", "Elm", "Walnut", "Linden", "Henderson", "Addison", "McGregor",
                "Brickside", "Westerly", "Illinois", "Albacore", "Gillette", "Airport", "Porter", "Secrest",
                "Creek", "Minor", "Bennington", "Holt", "Wendell", "Aaron", "Main", "Farragut", "Colmar",
                "Sun Valley", "Whittier Hill", "White Oak", "Meehan", "Garfield", "Lucian", "Chrissy's",
                "Olde Gate", "Washington", "Jefferson", "Lincoln", "Highland", "Meadow")  # fmt: skip
STREET_TYPES = ("Street", "Avenue", "Road", "Drive", "Court", "Lane", "Circle", "Place", "Boulevard", "Way")
STREET_DIRECTIONS = ("North", "South", "East", "West", "Northwest", "Southwest")
STREET_QUADRANTS = ("Northwest", "Southeast", "Northeast")

OFFER_COUNT = 5
OFFER_SHARE = 1 / 3  # share of sales with one offer redeemed (the real sample is nearer 1/2)
ONLINE_SHARE = 1 / 3
ONLINE_PAYMENTS = ("Credit Card", "PayPal", "Stripe")
OFFLINE_PAYMENTS = ("Cash", "Credit Card")
MAX_UNITS = 10
FIRST_SALE_DAY = dt.date(2022, 1, 1)
LAST_SALE_DAY = dt.date(2023, 12, 31)

INITIAL_BRANCHES = 5
INITIAL_AGENTS = 10
ADDRESS_POOL_SIZE = 2000
POSTAL_CODES_PER_CITY = 3
HALF_NUMBER_SHARE = 0.02  # addresses like "421 1/2 Oak Street": a "/" inside the street
EMPTY_CITY_SHARE = 0.01 * ONLINE_SHARE  # share of all rows: ~1 % of online rows
ORPHAN_SHARE_OF_EMPTY_CITY = 0.25
MIN_CUSTOMERS = 100
ROWS_PER_CUSTOMER = 15

MAX_ROWS = 10**7  # transaction id = bijection of group * MAX_ROWS + row onto 12 digits
MAX_GROUP = 10**12 // MAX_ROWS - 1
