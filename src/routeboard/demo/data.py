"""The demo's cast and board: one Plano shop, its technicians, and a day of jobs across DFW.

Records are built from the API's own request schemas, so a bad VIN, phone or address fails on
import instead of half-way through seeding. Times are wall-clock times in the business time zone;
``service.py`` turns them into instants on the demo day.

Phone numbers are in the 555-0100..0199 range and e-mail domains are ``example.*``: both are
reserved for fiction, so the demo can never text or mail a real person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from typing import Final

from routeboard.customers.schemas import CustomerCreate
from routeboard.jobs.schemas import Insurance, ServiceType, Site, VehicleIn
from routeboard.jobs.states import State
from routeboard.jobs.vin import check_digit
from routeboard.quotes.schemas import LineKind, QuoteLineIn
from routeboard.technicians.schemas import DEFAULT_HOURS, TechnicianCreate

# The board is a picture of the day at this local time, whatever the wall clock says, so every
# state is on it: mornings done, a job in progress or on the road around now, afternoons booked.
DEMO_NOW: Final = time(12, 30)

# Printed by `routeboard demo`; fixed so that a presenter can type them from memory.
ADMIN_LOGIN: Final = ("admin", "routeboard-admin")
DISPATCHER_LOGIN: Final = ("dispatch", "routeboard-demo")
TECHNICIAN_PASSWORD: Final = "routeboard-tech"  # noqa: S105
CUSTOMER_PASSWORD: Final = "routeboard-customer"  # noqa: S105

# How each kind of user reaches the API, so the audit trail shows a desk and phones.
# 192.0.2.0/24 and 198.51.100.0/24 are documentation networks (RFC 5737).
OFFICE_ADDR: Final = "192.0.2.10"
OFFICE_AGENT: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
PHONE_ADDR_PREFIX: Final = "198.51.100."
PHONE_AGENT: Final = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

SHOP: Final = Site(address="1400 Preston Rd, Plano, TX 75093", lat=33.0232, lon=-96.7973)
CITIES: Final = ("McKinney", "Frisco", "Plano", "Richardson", "Garland", "Mesquite", "Dallas")

TECHNICIANS: Final = (
    TechnicianCreate(
        name="Marco Diaz",
        phone="+1 214 555 0101",
        email="marco.diaz@example.com",
        skills=["windshield_replacement", "chip_repair", "adas_calibration"],
        home_base=SHOP,
        # The shop opens Saturday mornings for drive-in and urgent mobile work.
        working_hours={**DEFAULT_HOURS, "sat": (time(8), time(13))},
    ),
    TechnicianCreate(
        name="Dana Whitfield",
        phone="+1 214 555 0102",
        email="dana.whitfield@example.com",
        skills=["side_back_glass", "chip_repair", "windshield_replacement"],
        home_base=SHOP,
    ),
    TechnicianCreate(
        name="Luis Ortega",
        phone="+1 469 555 0103",
        email="luis.ortega@example.com",
        skills=["windshield_replacement", "chip_repair"],
        home_base=SHOP,
    ),
    TechnicianCreate(
        name="Priya Nair",
        phone="+1 972 555 0104",
        email="priya.nair@example.com",
        skills=["adas_calibration", "windshield_replacement"],
        home_base=SHOP,
    ),
)


def vin(stub: str) -> str:
    """A made-up VIN made valid: its 9th character (ignored by the sum) becomes the check digit."""
    filled = stub[:8] + "0" + stub[9:]
    return filled[:8] + check_digit(filled) + filled[9:]


def _line(kind: LineKind, description: str, cents: int, part: str | None = None) -> QuoteLineIn:
    return QuoteLineIn(
        kind=kind, description=description, part_number=part, quantity=1, unit_price_cents=cents
    )


def part(description: str, part_number: str, cents: int) -> QuoteLineIn:
    return _line("part", description, cents, part_number)


# Texas state (6.25 %) plus the local 2 % that Plano, Dallas and their neighbours levy.
TEXAS_SALES_TAX: Final = Decimal("0.0825")

# Prices a DFW mobile glass shop would quote in 2024–2026, before 8.25 % Texas sales tax.
WINDSHIELD_LABOR: Final = _line("labor", "Windshield removal and installation", 15_000)
TRUCK_WINDSHIELD_LABOR: Final = _line("labor", "Windshield R&I, full-size truck", 16_500)
URETHANE: Final = _line("fee", "Urethane adhesive and primer kit", 2_500)
MOBILE_FEE: Final = _line("fee", "Mobile service fee", 3_500)
DISPOSAL: Final = _line("fee", "Old glass disposal and recycling", 1_000)
GLASS_CLEANUP: Final = _line("fee", "Broken glass vacuum and door panel cleanup", 2_500)
STATIC_CALIBRATION: Final = _line("calibration", "ADAS forward camera static calibration", 29_500)
DIAGNOSTIC_SCAN: Final = _line("calibration", "Pre- and post-calibration diagnostic scan", 4_900)
CHIP_REPAIR: Final = _line("labor", "Rock chip repair, first chip", 7_900)
EXTRA_CHIP: Final = _line("labor", "Rock chip repair, additional chip", 1_500)


@dataclass(frozen=True)
class JobSeed:
    """One job on the demo board, and how far it has got by ``DEMO_NOW``."""

    customer: CustomerCreate
    vehicle: VehicleIn
    service_type: ServiceType
    site: Site
    duration_minutes: int
    state: State
    # When the customer called: business days before the demo day, and the local time.
    booked_days_ago: int
    booked_at: time
    quote: tuple[QuoteLineIn, ...] = ()
    quote_approved: bool = True
    # The technician's first name (their username) and the local start on the demo day.
    technician: str | None = None
    start: time | None = None
    insurance: Insurance | None = None
    notes: str = ""
    cancelled_at: time | None = None
    cancel_reason: str | None = None
    # The customer's own login for the tracking page, when they have one.
    login: str | None = None


def _customer(
    name: str, phone: str, email: str | None, *, sms: bool, channel: str = "sms"
) -> CustomerCreate:
    return CustomerCreate.model_validate(
        {
            "name": name,
            "phone": phone,
            "email": email,
            "sms_consent": sms,
            "preferred_channel": channel,
        }
    )


def _site(address: str, lat: float, lon: float) -> Site:
    return Site(address=address, lat=lat, lon=lon)


def _vehicle(year: int, make: str, model: str, stub: str) -> VehicleIn:
    return VehicleIn(year=year, make=make, model=model, vin=vin(stub))


ALICE: Final = _customer("Alice Moreno", "+1 972 555 0199", "alice.moreno@example.com", sms=True)
# Travis's chip spread overnight: the chip repair was cancelled and a replacement quoted.
TRAVIS: Final = _customer("Travis Boone", "+1 972 555 0131", "tboone@example.net", sms=True)
TRAVIS_OUTBACK: Final = _vehicle(2020, "Subaru", "Outback", "4S4BTANC_L3146209")
SHILOH: Final = _site("2200 N Shiloh Rd, Garland, TX 75044", 32.9268, -96.6722)

JOBS: Final[tuple[JobSeed, ...]] = (
    # Marco: the ADAS-capable all-rounder, working north (Plano, Frisco, McKinney).
    JobSeed(
        customer=_customer("Cody Patterson", "+1 469 555 0112", "cody.p@example.com", sms=True),
        vehicle=_vehicle(2016, "Toyota", "Tacoma", "3TMCZ5AN_GM019472"),
        service_type="windshield_replacement",
        site=_site("3401 Legacy Dr, Plano, TX 75023", 33.0737, -96.7478),
        duration_minutes=90,
        state=State.INVOICED,
        booked_days_ago=2,
        booked_at=time(9, 40),
        quote=(
            part("Windshield, solar green tint", "FW03915", 28_900),
            WINDSHIELD_LABOR,
            URETHANE,
            DISPOSAL,
        ),
        technician="marco",
        start=time(8, 30),
        insurance=Insurance(
            carrier="State Farm",
            claim_number="53-48K2-19F",
            policy_number="453 7721-C18-43",
            deductible_cents=25_000,
        ),
        notes="Truck is in the driveway; side gate code 4417.",
    ),
    JobSeed(
        customer=_customer(
            "Sofia Ramirez", "+1 214 555 0114", "sofia.ramirez@example.com", sms=True
        ),
        vehicle=_vehicle(2023, "Toyota", "RAV4", "2T3P1RFV_PW338154"),
        service_type="chip_repair",
        site=_site("2601 Preston Rd, Frisco, TX 75034", 33.0996, -96.8113),
        duration_minutes=45,
        state=State.COMPLETED,
        booked_days_ago=1,
        booked_at=time(13, 5),
        quote=(CHIP_REPAIR, EXTRA_CHIP),
        technician="marco",
        start=time(10, 45),
        insurance=Insurance(
            carrier="Progressive", claim_number="24-1187654-01", deductible_cents=0
        ),
        notes="Stonebriar Centre garage, level 2 near Macy's. Silver RAV4, two chips.",
    ),
    JobSeed(
        customer=_customer("Jordan Ellis", "+1 469 555 0117", "jordan.ellis@example.com", sms=True),
        vehicle=_vehicle(2021, "Honda", "Accord", "1HGCV1F3_MA012847"),
        service_type="windshield_replacement",
        site=_site("6851 W Virginia Pkwy, McKinney, TX 75071", 33.1962, -96.7161),
        duration_minutes=150,
        state=State.IN_PROGRESS,
        booked_days_ago=3,
        booked_at=time(11, 20),
        quote=(
            part("Windshield, acoustic, Honda Sensing camera bracket", "FW04862", 52_900),
            WINDSHIELD_LABOR,
            URETHANE,
            STATIC_CALIBRATION,
        ),
        technician="marco",
        start=time(12, 15),
        insurance=Insurance(
            carrier="USAA",
            claim_number="0042-81-9-3317",
            policy_number="00428193 7U 7101",
            deductible_cents=50_000,
        ),
        notes="Lane keeping camera must be calibrated before the car leaves.",
    ),
    JobSeed(
        customer=_customer("Hannah Kim", "+1 214 555 0121", "hannah.kim@example.org", sms=False),
        vehicle=_vehicle(2022, "Hyundai", "Tucson", "5NMJFCAE_NH047316"),
        service_type="adas_calibration",
        site=_site("1200 N Tennessee St, McKinney, TX 75069", 33.2085, -96.6168),
        duration_minutes=75,
        state=State.SCHEDULED,
        booked_days_ago=1,
        booked_at=time(15, 50),
        quote=(STATIC_CALIBRATION, DIAGNOSTIC_SCAN),
        technician="marco",
        start=time(15, 30),
        notes="Windshield replaced elsewhere last week; lane assist warning since then.",
    ),
    # Dana: side and back glass, working the Richardson–Garland corridor.
    JobSeed(
        customer=_customer("Tyler Brooks", "+1 972 555 0108", "tyler.brooks@example.com", sms=True),
        vehicle=_vehicle(2020, "Ford", "F-150", "1FTEW1E4_LFA31842"),
        service_type="side_back_glass",
        site=_site("2100 E Campbell Rd, Richardson, TX 75081", 32.9766, -96.6990),
        duration_minutes=75,
        state=State.INVOICED,
        booked_days_ago=2,
        booked_at=time(10, 15),
        quote=(
            part("Back glass, power sliding, heated", "DB10380", 32_900),
            _line("labor", "Back glass removal and installation", 12_500),
            URETHANE,
            GLASS_CLEANUP,
        ),
        technician="dana",
        start=time(8, 30),
        insurance=Insurance(
            carrier="Allstate",
            claim_number="0731458829",
            policy_number="912 447 310",
            deductible_cents=50_000,
        ),
    ),
    JobSeed(
        customer=_customer(
            "Lauren Fischer", "+1 214 555 0126", "lauren.fischer@example.com", sms=False
        ),
        vehicle=_vehicle(2019, "Volkswagen", "Jetta", "3VWC57BU_KM083461"),
        service_type="chip_repair",
        site=_site("800 W Arapaho Rd, Richardson, TX 75080", 32.9600, -96.7440),
        duration_minutes=45,
        state=State.COMPLETED,
        booked_days_ago=1,
        booked_at=time(8, 55),
        quote=(CHIP_REPAIR, MOBILE_FEE),
        technician="dana",
        start=time(10, 30),
        notes="Office parking lot, visitor row B.",
    ),
    JobSeed(
        customer=ALICE,
        vehicle=_vehicle(2019, "Honda", "CR-V", "2HKRW2H8_KH604218"),
        service_type="side_back_glass",
        site=_site("3000 N Garland Ave, Garland, TX 75040", 32.9350, -96.6400),
        duration_minutes=75,
        state=State.EN_ROUTE,
        booked_days_ago=1,
        booked_at=time(9, 30),
        quote=(
            part("Front door glass, left, tinted", "FD25102", 21_900),
            _line("labor", "Door glass installation and regulator check", 11_500),
            GLASS_CLEANUP,
        ),
        technician="dana",
        start=time(12, 45),
        insurance=Insurance(
            carrier="GEICO", claim_number="8102637749-0001", deductible_cents=25_000
        ),
        notes="Break-in overnight; window is taped. Customer works from home.",
        login="alice",
    ),
    JobSeed(
        customer=_customer(
            "Marcus Johnson", "+1 469 555 0128", "marcus.johnson@example.com", sms=True
        ),
        vehicle=_vehicle(2017, "Nissan", "Altima", "1N4AL3AP_HC271936"),
        service_type="side_back_glass",
        site=_site("4400 Broadway Blvd, Garland, TX 75043", 32.8640, -96.6150),
        duration_minutes=60,
        state=State.SCHEDULED,
        booked_days_ago=2,
        booked_at=time(14, 25),
        quote=(
            part("Quarter glass, rear right", "FQ22945", 18_900),
            _line("labor", "Quarter glass installation", 9_500),
            URETHANE,
        ),
        technician="dana",
        start=time(14, 45),
    ),
    JobSeed(
        customer=TRAVIS,
        vehicle=TRAVIS_OUTBACK,
        service_type="chip_repair",
        site=SHILOH,
        duration_minutes=30,
        state=State.CANCELLED,
        booked_days_ago=3,
        booked_at=time(14, 10),
        quote=(CHIP_REPAIR,),
        technician="dana",
        start=time(16, 30),
        cancelled_at=time(8, 20),
        cancel_reason=(
            "Chip spread into a 14-inch crack overnight; rebooking as a windshield replacement."
        ),
    ),
    # Luis: windshields and chips, Dallas in the morning, Mesquite after lunch.
    JobSeed(
        customer=_customer(
            "Ryan Whitaker", "+1 214 555 0110", "ryan.whitaker@example.com", sms=True
        ),
        vehicle=_vehicle(2018, "Chevrolet", "Silverado 1500", "3GCUKREC_JG194627"),
        service_type="windshield_replacement",
        site=_site("5500 Greenville Ave, Dallas, TX 75206", 32.8475, -96.7696),
        duration_minutes=90,
        state=State.INVOICED,
        booked_days_ago=1,
        booked_at=time(10, 50),
        quote=(
            part("Windshield, solar tint, rain sensor", "DW01897", 31_900),
            TRUCK_WINDSHIELD_LABOR,
            URETHANE,
            DISPOSAL,
        ),
        technician="luis",
        start=time(8, 30),
        insurance=Insurance(
            carrier="State Farm", claim_number="53-61B7-40D", deductible_cents=50_000
        ),
    ),
    JobSeed(
        customer=_customer("Derek Chen", "+1 469 555 0119", "derek.chen@example.com", sms=True),
        vehicle=_vehicle(2022, "Tesla", "Model Y", "7SAYGDEE_NF418273"),
        service_type="chip_repair",
        site=_site("8687 N Central Expy, Dallas, TX 75225", 32.8686, -96.7738),
        duration_minutes=45,
        state=State.COMPLETED,
        booked_days_ago=1,
        booked_at=time(16, 40),
        quote=(CHIP_REPAIR,),
        technician="luis",
        start=time(10, 45),
        insurance=Insurance(
            carrier="Progressive", claim_number="24-1190023-02", deductible_cents=0
        ),
        notes="NorthPark Center, Nordstrom garage level 3.",
    ),
    JobSeed(
        customer=_customer(
            "Brittany Hale",
            "+1 214 555 0123",
            "brittany.hale@example.com",
            sms=False,
            channel="email",
        ),
        vehicle=_vehicle(2017, "Ford", "Explorer", "1FM5K8D8_HGB40317"),
        service_type="windshield_replacement",
        site=_site("6300 E Mockingbird Ln, Dallas, TX 75214", 32.8368, -96.7527),
        duration_minutes=90,
        state=State.IN_PROGRESS,
        booked_days_ago=2,
        booked_at=time(12, 10),
        quote=(
            part("Windshield, solar tint", "DW02046", 34_500),
            WINDSHIELD_LABOR,
            URETHANE,
            MOBILE_FEE,
        ),
        technician="luis",
        start=time(12, 15),
    ),
    JobSeed(
        customer=_customer("Jamal Washington", "+1 972 555 0129", "jamal.w@example.net", sms=True),
        vehicle=_vehicle(2021, "Ram", "1500", "1C6SRFFT_MN173028"),
        service_type="windshield_replacement",
        site=_site("1515 N Town East Blvd, Mesquite, TX 75150", 32.8010, -96.6180),
        duration_minutes=90,
        state=State.SCHEDULED,
        booked_days_ago=1,
        booked_at=time(11, 45),
        quote=(
            part("Windshield, acoustic, solar tint", "DW02288", 39_900),
            TRUCK_WINDSHIELD_LABOR,
            URETHANE,
            DISPOSAL,
        ),
        technician="luis",
        start=time(14, 30),
        insurance=Insurance(carrier="Allstate", claim_number="0731502247", deductible_cents=50_000),
    ),
    # Priya: the calibration specialist, Mesquite and Garland, ending back in Plano.
    JobSeed(
        customer=_customer("Vikram Patel", "+1 972 555 0135", "vikram.patel@example.com", sms=True),
        vehicle=_vehicle(2018, "BMW", "X5", "5UXKR0C5_J0Y47281"),
        service_type="windshield_replacement",
        site=_site("3800 Gus Thomasson Rd, Mesquite, TX 75150", 32.8150, -96.6390),
        duration_minutes=120,
        state=State.COMPLETED,
        booked_days_ago=4,
        booked_at=time(10, 0),
        quote=(
            part("Windshield, head-up display, acoustic", "FW04571", 129_900),
            _line("labor", "Windshield R&I, European SUV", 22_500),
            URETHANE,
            _line("calibration", "KAFAS camera static calibration", 34_900),
        ),
        technician="priya",
        start=time(8, 45),
        insurance=Insurance(
            carrier="Farmers",
            claim_number="3017428855-1",
            policy_number="19 4480 2271",
            deductible_cents=25_000,
        ),
        notes="Insurer wants the calibration printout attached before invoicing.",
    ),
    JobSeed(
        customer=_customer("Emily Nguyen", "+1 469 555 0138", "emily.nguyen@example.com", sms=True),
        vehicle=_vehicle(2023, "Kia", "Telluride", "5XYP5DGC_PG338901"),
        service_type="adas_calibration",
        site=_site("2600 N Galloway Ave, Mesquite, TX 75150", 32.7950, -96.5990),
        duration_minutes=60,
        state=State.COMPLETED,
        booked_days_ago=1,
        booked_at=time(14, 0),
        quote=(STATIC_CALIBRATION, DIAGNOSTIC_SCAN),
        technician="priya",
        start=time(11, 15),
    ),
    JobSeed(
        customer=_customer(
            "Ngozi Okafor", "+1 214 555 0141", "ngozi.okafor@example.com", sms=False
        ),
        vehicle=_vehicle(2019, "Toyota", "Camry", "4T1B11HK_KU208371"),
        service_type="windshield_replacement",
        site=_site("1500 Northwest Hwy, Garland, TX 75041", 32.8880, -96.6540),
        duration_minutes=120,
        state=State.SCHEDULED,
        booked_days_ago=2,
        booked_at=time(9, 5),
        quote=(
            part("Windshield, Toyota Safety Sense bracket", "FW04536", 36_900),
            WINDSHIELD_LABOR,
            URETHANE,
            STATIC_CALIBRATION,
        ),
        technician="priya",
        start=time(13, 0),
    ),
    JobSeed(
        customer=_customer(
            "Ashley Romero", "+1 972 555 0144", "ashley.romero@example.com", sms=True
        ),
        vehicle=_vehicle(2020, "Lexus", "RX 350", "2T2HZMDA_LC219845"),
        service_type="adas_calibration",
        site=_site("2201 Coit Rd, Plano, TX 75075", 33.0290, -96.7703),
        duration_minutes=60,
        state=State.SCHEDULED,
        booked_days_ago=1,
        booked_at=time(16, 10),
        quote=(STATIC_CALIBRATION, DIAGNOSTIC_SCAN),
        technician="priya",
        start=time(15, 45),
    ),
    # Not on anyone's day yet: quotes waiting for the customer, the insurer or a part.
    JobSeed(
        customer=TRAVIS,
        vehicle=TRAVIS_OUTBACK,
        service_type="windshield_replacement",
        site=SHILOH,
        duration_minutes=150,
        state=State.QUOTED,
        booked_days_ago=0,
        booked_at=time(8, 35),
        quote=(
            part("Windshield, EyeSight camera bracket, acoustic", "FW04652", 69_900),
            WINDSHIELD_LABOR,
            URETHANE,
            _line("calibration", "EyeSight stereo camera calibration", 34_900),
        ),
        quote_approved=False,
        insurance=Insurance(
            carrier="Farmers", claim_number="3017433106-1", deductible_cents=50_000
        ),
        notes="Awaiting the insurer's authorization.",
    ),
    JobSeed(
        customer=_customer("Megan Sullivan", "+1 469 555 0147", None, sms=True),
        vehicle=_vehicle(2024, "Honda", "Civic", "2HGFE2F5_RH507829"),
        service_type="chip_repair",
        site=_site("4200 W 15th St, Plano, TX 75093", 33.0199, -96.7880),
        duration_minutes=45,
        state=State.QUOTED,
        booked_days_ago=1,
        booked_at=time(16, 20),
        quote=(CHIP_REPAIR, EXTRA_CHIP, EXTRA_CHIP),
        quote_approved=False,
        notes="Three chips, driver side. Wants a Saturday morning if possible.",
    ),
    JobSeed(
        customer=_customer(
            "Grace Oyelaran", "+1 214 555 0150", "grace.oyelaran@example.com", sms=True
        ),
        vehicle=_vehicle(2022, "Mazda", "CX-5", "JM3KFBDM_N0541732"),
        service_type="windshield_replacement",
        site=_site("3001 S Hardin Blvd, McKinney, TX 75070", 33.1640, -96.6550),
        duration_minutes=150,
        state=State.QUOTED,
        booked_days_ago=2,
        booked_at=time(10, 5),
        quote=(
            part("Windshield, rain sensor, camera bracket", "FW05123", 45_900),
            WINDSHIELD_LABOR,
            URETHANE,
            STATIC_CALIBRATION,
        ),
        insurance=Insurance(
            carrier="Progressive", claim_number="24-1179982-01", deductible_cents=10_000
        ),
        notes="FW05123 is back-ordered at the distributor until Thursday; book when it lands.",
    ),
    JobSeed(
        customer=_customer(
            "Maria Gonzalez", "+1 972 555 0152", "maria.gonzalez@example.com", sms=True
        ),
        vehicle=_vehicle(2022, "Toyota", "Sienna", "5TDYRKEC_NS093182"),
        service_type="side_back_glass",
        site=_site("5500 Lebanon Rd, Frisco, TX 75034", 33.1290, -96.8020),
        duration_minutes=60,
        state=State.QUOTED,
        booked_days_ago=0,
        booked_at=time(11, 50),
        notes="Sliding door glass shattered; sending photos so we can identify the part.",
    ),
    JobSeed(
        customer=_customer("Jorge Reyes", "+1 214 555 0156", "j.reyes@example.org", sms=False),
        vehicle=_vehicle(2021, "Jeep", "Grand Cherokee", "1C4RJFAG_MC612875"),
        service_type="windshield_replacement",
        site=_site("2500 Victory Ave, Dallas, TX 75219", 32.7905, -96.8103),
        duration_minutes=120,
        state=State.CANCELLED,
        booked_days_ago=1,
        booked_at=time(11, 30),
        quote=(
            part("Windshield, solar tint, lane camera bracket", "DW02153", 49_900),
            TRUCK_WINDSHIELD_LABOR,
            URETHANE,
            STATIC_CALIBRATION,
        ),
        quote_approved=False,
        insurance=Insurance(carrier="Nationwide", claim_number="NW-557102-TX"),
        cancelled_at=time(9, 5),
        cancel_reason="Insurer denied the claim; customer chose not to pay out of pocket.",
    ),
)


def device_key(username: str) -> str:
    """The demo phone's GPS key: fixed, so the simulator can report without asking."""
    return f"rbk_{('demo' + username)[:12].ljust(12, '0')}_demo-device-{username}-0123456789"


# What the customers of the finished jobs said (in the order those jobs appear in JOBS): the
# rating, a comment, and whether they felt the technician arrived on time.
RATINGS: Final[tuple[tuple[int, str, bool], ...]] = (
    (5, "Marco was quick and left the car spotless. Thank you!", True),
    (4, "Good job, though the text with the arrival time came late.", False),
    (5, "", True),
    (2, "Disappointed: I had to call twice to find out when anyone would come.", False),
    (5, "Great service, very professional.", True),
    (3, "Fine, but there was glass dust left on the dashboard.", True),
    (4, "", True),
    (5, "Excellent. Explained the camera calibration clearly.", True),
)
POLL_QUESTION: Final = "What should Routeboard do next?"
POLL_OPTIONS: Final = (
    "Parts ordering from the quote",
    "Route map on the board",
    "Payroll export of hours",
    "Customer self-booking page",
)
# Each technician's ranking of those options, and their answer to "was today realistic?".
STAFF_VOICE: Final[dict[str, tuple[tuple[int, ...], int]]] = {
    "marco": ((1, 0, 3, 2), 4),
    "dana": ((0, 1, 2, 3), 2),
    "luis": ((1, 3, 0), 3),
    "priya": ((3, 1, 0, 2), 4),
}
