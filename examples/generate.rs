//! Benchmark data generator for channelguard.
//!
//! Writes a synthetic but realistic Microsoft CSP account-data repository as YAML, following the data
//! contract in `shared/spec/data-model.md`: partners of every `csp_role` in both clouds and several
//! markets (Europe: NO, SE, DE, FR, NL, GB; US; US Government; BR; IN), indirect partnerships between
//! providers and resellers, and per customer one `Customer`, 1–2 `ResellerRelationship`s, usually a GDAP
//! `DelegatedAdmin`, about six `Subscription`s of every channel and billing model, and now and then a
//! `Transfer` (Azure plan or new-commerce license transfer, done correctly). All dates are consistent
//! with the evaluation date 2024-06-30, so a correct checker finds nothing in the clean data except
//! MC001 "multi-channel" classification infos.
//!
//! About `--violation-rate` (default 0.02) of the documents carry one deliberate violation, rotating
//! among MC002, MC017, MC021, MC024, MC014, MC009, a dangling customer reference and a schema error;
//! the summary line counts each kind. See `docs/generator.md`.
//!
//! `--shape distributor` gives the book of business of issue 15 instead (more partners per customer,
//! fewer GDAP records, more partnerships, more managed non-CSP subscriptions); the default shape is
//! unchanged by the option.
//!
//! The output is a pure function of `--customers`, `--seed`, `--violation-rate` and `--shape`: the
//! same values give a byte-identical tree. Standard library only; files are written by four threads that each own
//! their directories, one `write` per file.
//!
//! ```text
//! cargo run --release --example generate -- --customers 10000 --seed 7 OUT_DIR
//! ```

// A command-line tool: printing its usage and summary is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

const USAGE: &str = "usage: generate [--customers N] [--seed N] [--violation-rate F] \
     [--shape default|distributor] [--force] OUT_DIR";

const HELP: &str = "\
generate: write a synthetic channelguard account-data repository (YAML) for benchmarks

usage:
    cargo run --release --example generate -- [OPTIONS] OUT_DIR

options:
    --customers N         number of customers (default 100); partners = max(14, N / 50)
    --seed N              PRNG seed (default 7); same options give a byte-identical tree
    --violation-rate F    share of documents with a deliberate violation, 0..1 (default 0.02)
    --shape S             `default`, or `distributor`: partners = max(14, N / 40), more partners
                          per customer, fewer GDAP records, more partnerships, more managed
                          non-CSP subscriptions (MC001 infos); see docs/generator.md
    --force               write into a non-empty OUT_DIR; its partners/, customers/, relationships/,
                          subscriptions/, partnerships/ and transfers/ folders are removed first
    -h, --help            print this help

Evaluation date of the data: 2024-06-30 (pass --as-of 2024-06-30 to the checker).
";

// ------------------------------------------------------------------------------------------------
// Dates: days since 1970-01-01 (proleptic Gregorian), H. Hinnant's civil algorithms.

type Day = i32;

const fn ymd(y: i32, m: u32, d: u32) -> Day {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i32;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil(z: Day) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i32::from(m <= 2);
    (y, m, d)
}

fn add_months(day: Day, months: i32) -> Day {
    let (y, m, d) = civil(day);
    let total = y * 12 + (m as i32 - 1) + months;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    let dim = match nm {
        2 if ny % 4 == 0 && (ny % 100 != 0 || ny % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    ymd(ny, nm, d.min(dim))
}

/// The evaluation date the data is consistent with.
const AS_OF: Day = ymd(2024, 6, 30);
/// Indirect partnerships are requested in this window (before any customer exists).
const PARTNERSHIP_FIRST: Day = ymd(2021, 1, 4);
const PARTNERSHIP_LAST: Day = ymd(2021, 3, 19);
/// First reseller relationship of a customer is requested in this window.
const REL_FIRST: Day = ymd(2021, 4, 1);
const REL_LAST: Day = ymd(2023, 6, 30);
/// Latest subscription start date.
const LAST_START: Day = ymd(2024, 6, 15);
/// Legacy (traditional) CSP offers are only bought up to this date.
const LEGACY_LAST: Day = ymd(2022, 3, 31);

// ------------------------------------------------------------------------------------------------
// PRNG: splitmix64.

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6A09_E667_F3BC_C908)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`; `lo` when the range is empty.
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo) as u64 + 1) as i32
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    /// Index drawn with the given weights.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut r = self.below(u64::from(total)) as u32;
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }

    /// A random (version 4) GUID, lower case.
    fn guid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

// ------------------------------------------------------------------------------------------------
// YAML emitting: plain block style, 2-space indent.

fn needs_quotes(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return true;
    };
    if b"-?:,[]{}#&*!|>'\"%@`~ \t".contains(&first)
        || matches!(b[b.len() - 1], b' ' | b'\t')
        || s.contains(':')
        || s.contains(" #")
        || s.contains('\n')
    {
        return true;
    }
    if s.len() <= 5 {
        let lower = s.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "y" | "n" | "yes" | "no" | "true" | "false" | "on" | "off" | "null" | ".inf" | ".nan"
        ) {
            return true;
        }
    }
    if first.is_ascii_digit() || first == b'.' || first == b'+' {
        let numeric = s.parse::<f64>().is_ok()
            || s.bytes().all(|c| c.is_ascii_digit() || c == b'_')
            || s.starts_with("0x")
            || s.starts_with("0o");
        let date_like = b.len() >= 10 && b[4] == b'-' && b[7] == b'-';
        return numeric || date_like;
    }
    false
}

fn push_scalar(out: &mut String, s: &str) {
    if needs_quotes(s) {
        push_quoted(out, s);
    } else {
        out.push_str(s);
    }
}

fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('"');
}

fn push_date(out: &mut String, day: Day) {
    let (y, m, d) = civil(day);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
}

/// Appends `key: value` lines of one document to a buffer.
struct Yaml<'a>(&'a mut String);

impl Yaml<'_> {
    fn begin<'a>(out: &'a mut String, kind: &str, id: &str) -> Yaml<'a> {
        out.push_str("kind: ");
        out.push_str(kind);
        out.push_str("\nid: ");
        push_scalar(out, id);
        out.push('\n');
        Yaml(out)
    }

    fn key(&mut self, key: &str) {
        self.0.push_str(key);
        self.0.push_str(": ");
    }

    /// A string, quoted only where YAML would misread it.
    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_scalar(self.0, value);
        self.0.push('\n');
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    /// A string that is always quoted (PartnerIDs).
    fn quoted(&mut self, key: &str, value: &str) {
        self.key(key);
        push_quoted(self.0, value);
        self.0.push('\n');
    }

    /// Written as is (enum values, numbers, durations).
    fn raw(&mut self, key: &str, value: &str) {
        self.key(key);
        self.0.push_str(value);
        self.0.push('\n');
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.raw(key, if value { "true" } else { "false" });
    }

    fn opt_bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.bool(key, v);
        }
    }

    fn num(&mut self, key: &str, value: u32) {
        self.key(key);
        let _ = write!(self.0, "{value}");
        self.0.push('\n');
    }

    fn date(&mut self, key: &str, day: Day) {
        self.key(key);
        push_date(self.0, day);
        self.0.push('\n');
    }

    fn opt_date(&mut self, key: &str, day: Option<Day>) {
        if let Some(d) = day {
            self.date(key, d);
        }
    }

    fn list<S: AsRef<str>>(&mut self, key: &str, items: &[S]) {
        self.0.push_str(key);
        self.0.push_str(":\n");
        for item in items {
            self.0.push_str("  - ");
            push_scalar(self.0, item.as_ref());
            self.0.push('\n');
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Markets, names and catalog.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Market {
    Europe,
    Us,
    UsGov,
    Brazil,
    India,
}

const MARKETS: [Market; 5] = [
    Market::Europe,
    Market::Us,
    Market::UsGov,
    Market::Brazil,
    Market::India,
];
const EUROPE: [&str; 6] = ["NO", "SE", "DE", "FR", "NL", "GB"];
const EUROPE_WEIGHTS: [u32; 6] = [15, 15, 25, 15, 12, 18];

impl Market {
    fn index(self) -> usize {
        self as usize
    }

    fn countries(self) -> &'static [&'static str] {
        match self {
            Market::Europe => &EUROPE,
            Market::Us | Market::UsGov => &["US"],
            Market::Brazil => &["BR"],
            Market::India => &["IN"],
        }
    }

    fn cloud(self) -> &'static str {
        if self == Market::UsGov {
            "us_government"
        } else {
            "commercial"
        }
    }

    /// Tenant countries outside this market (for MC017).
    fn outside(self) -> &'static [&'static str] {
        match self {
            Market::Europe => &["BR", "US", "IN"],
            Market::Us | Market::UsGov => &["BR", "CA", "MX"],
            Market::Brazil => &["US", "AR"],
            Market::India => &["GB", "US", "SG"],
        }
    }
}

fn stems(country: &str) -> &'static [&'static str] {
    match country {
        "NO" => &[
            "Nordlys",
            "Fjordvik",
            "Bergstad",
            "Skogheim",
            "Solvang",
            "Havbris",
            "Bjørkli",
            "Elvebakken",
        ],
        "SE" => &[
            "Ekholm",
            "Sjöberg",
            "Lindqvist",
            "Granlund",
            "Björkdal",
            "Stensund",
            "Vattenfors",
            "Ljungby",
        ],
        "DE" => &[
            "Rheinberg",
            "Lindenhof",
            "Falkenstein",
            "Eichwald",
            "Sonnental",
            "Müllerhof",
            "Bergmann",
            "Elbufer",
        ],
        "FR" => &[
            "Clairval",
            "Montbrun",
            "Lumière",
            "Beaulieu",
            "Valmont",
            "Rochefort",
            "Belair",
            "Châteaubois",
        ],
        "NL" => &[
            "Delftse",
            "Zeeland",
            "Van Dijk",
            "Noordhaven",
            "Polderland",
            "Hollandia",
            "Waterkant",
            "Vlietland",
        ],
        "GB" => &[
            "Ashford",
            "Kingsley",
            "Thornbury",
            "Caledon",
            "Pembroke",
            "Harrowgate",
            "Wexley",
            "Brightwell",
        ],
        "BR" => &[
            "Horizonte",
            "Paulista",
            "Carioca",
            "Ipanema",
            "Araucária",
            "Serra Verde",
            "Litoral",
            "Cerrado",
        ],
        "IN" => &[
            "Sahyadri", "Ganga", "Deccan", "Kaveri", "Himalaya", "Narmada", "Vindhya", "Malabar",
        ],
        _ => &[
            "Northwind",
            "Cascade",
            "Redwood",
            "Liberty",
            "Summit",
            "Bluegrass",
            "Lakeshore",
            "Prairie",
            "Keystone",
            "Sierra",
        ],
    }
}

fn legal_form(rng: &mut Rng, country: &str) -> &'static str {
    match country {
        "NO" => "AS",
        "SE" => "AB",
        "DE" => "GmbH",
        "FR" => "SAS",
        "NL" => "B.V.",
        "GB" => "Ltd",
        "BR" => "Ltda.",
        "IN" => "Pvt. Ltd.",
        _ => ["Inc.", "LLC", "Corp."][rng.below(3) as usize],
    }
}

const SECTORS: [&str; 20] = [
    "Data",
    "Logistics",
    "Health",
    "Foods",
    "Energy",
    "Marine",
    "Retail",
    "Media",
    "Engineering",
    "Finance",
    "Legal",
    "Construction",
    "Analytics",
    "Pharma",
    "Textiles",
    "Transport",
    "Hotels",
    "Architects",
    "Dental",
    "Furniture",
];
const PARTNER_WORDS: [&str; 9] = [
    "IT",
    "Cloud",
    "Digital",
    "Solutions",
    "Managed Services",
    "Networks",
    "Tech Group",
    "Consulting",
    "Systems",
];
const GOV_UNITS: [&str; 6] = [
    "Health Department",
    "Public Works",
    "Sheriff's Office",
    "School District",
    "Water Authority",
    "Transit Agency",
];

/// Lower-case ASCII letters and digits of a name, for `*.onmicrosoft.com`.
fn slug(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        let c = match c {
            'å' | 'ä' | 'á' | 'à' | 'â' | 'ã' | 'Å' | 'Ä' => 'a',
            'ö' | 'ø' | 'ó' | 'ô' | 'Ö' | 'Ø' => 'o',
            'ü' | 'ú' | 'Ü' => 'u',
            'é' | 'è' | 'ê' | 'É' => 'e',
            'ç' => 'c',
            'í' | 'î' => 'i',
            c => c.to_ascii_lowercase(),
        };
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            s.push(c);
        }
    }
    s
}

#[derive(Clone, Copy)]
struct Offer {
    id: Option<&'static str>,
    name: &'static str,
    family: &'static str,
}

const fn offer(id: &'static str, name: &'static str, family: &'static str) -> Offer {
    Offer {
        id: if id.is_empty() { None } else { Some(id) },
        name,
        family,
    }
}

/// New-commerce license catalog items (`PRODUCT:SKU`).
const NCE_LICENSE: [Offer; 10] = [
    offer(
        "CFQ7TTC0LH18:0001",
        "Microsoft 365 Business Basic",
        "microsoft365",
    ),
    offer(
        "CFQ7TTC0LDPB:0001",
        "Microsoft 365 Business Standard",
        "microsoft365",
    ),
    offer(
        "CFQ7TTC0LCHC:0002",
        "Microsoft 365 Business Premium",
        "microsoft365",
    ),
    offer("CFQ7TTC0LFLX:0001", "Microsoft 365 E3", "microsoft365"),
    offer("CFQ7TTC0LFLZ:0001", "Microsoft 365 E5", "microsoft365"),
    offer("CFQ7TTC0LF8R:0001", "Office 365 E1", "office365"),
    offer("CFQ7TTC0LF8Q:0001", "Office 365 E3", "office365"),
    offer("CFQ7TTC0LH16:0001", "Exchange Online (Plan 1)", "office365"),
    offer(
        "CFQ7TTC0LFK5:0001",
        "Enterprise Mobility + Security E3",
        "ems",
    ),
    offer(
        "CFQ7TTC0LFJ9:0001",
        "Dynamics 365 Customer Engagement Plan",
        "dynamics365",
    ),
];

/// Legacy (traditional) license offers (upper-case GUID offer ids) and the NCE item replacing each.
const LEGACY_LICENSE: [(Offer, usize); 4] = [
    (
        offer(
            "796B6B5F-613C-4E24-A17C-EBA730D49C02",
            "Office 365 E3",
            "office365",
        ),
        6,
    ),
    (
        offer(
            "91FD106F-4B2C-4938-95AC-F54F74E9A239",
            "Office 365 E1",
            "office365",
        ),
        5,
    ),
    (
        offer(
            "DB2E705F-B82A-4024-A3D5-D88E12F2DB35",
            "Microsoft 365 Business Premium",
            "microsoft365",
        ),
        2,
    ),
    (
        offer(
            "4B9405B0-7788-4568-ADD1-99614E613B69",
            "Exchange Online (Plan 1)",
            "office365",
        ),
        7,
    ),
];

const AZURE_PLAN: Offer = offer("DZH318Z0BPS6:0001", "Microsoft Azure plan", "azure");
const AZURE_LEGACY_CSP: Offer = offer("MS-AZR-0145P", "Microsoft Azure", "azure");
const AZURE_PAYG: Offer = offer("MS-AZR-0003P", "Pay-As-You-Go", "azure");
const AZURE_EA: Offer = offer("MS-AZR-0017P", "Microsoft Azure Enterprise", "azure");

const DIRECT_LICENSE: [Offer; 4] = [
    offer("", "Microsoft 365 Business Premium", "microsoft365"),
    offer("", "Microsoft 365 Business Standard", "microsoft365"),
    offer("", "Microsoft 365 Apps for business", "microsoft365"),
    offer("", "Exchange Online (Plan 1)", "office365"),
];
const EA_LICENSE: [Offer; 4] = [
    offer("", "Microsoft 365 E3", "microsoft365"),
    offer("", "Office 365 E3", "office365"),
    offer("", "Enterprise Mobility + Security E3", "ems"),
    offer("", "Dynamics 365 Sales Enterprise", "dynamics365"),
];
const ADVISOR_LICENSE: [Offer; 3] = [
    offer("", "Office 365 E1", "office365"),
    offer("", "Office 365 E3", "office365"),
    offer("", "Microsoft 365 Business Standard", "microsoft365"),
];
const OPEN_LICENSE: [Offer; 3] = [
    offer("", "Office 365 E3", "office365"),
    offer("", "Project Online Professional", "other"),
    offer("", "Visio Online Plan 2", "other"),
];
const THIRD_PARTY_LICENSE: [Offer; 4] = [
    offer("", "Cloud Backup for Microsoft 365", "marketplace_saas"),
    offer("", "Secure Email Gateway", "marketplace_saas"),
    offer("", "Microsoft 365 Business Standard", "microsoft365"),
    offer("", "Document Signing Pro", "other"),
];

const GDAP_ROLES: [&str; 12] = [
    "User Administrator",
    "License Administrator",
    "Helpdesk Administrator",
    "Service Support Administrator",
    "Billing Administrator",
    "Exchange Administrator",
    "Teams Administrator",
    "SharePoint Administrator",
    "Security Reader",
    "Global Reader",
    "Cloud Application Administrator",
    "Intune Administrator",
];

#[derive(Clone, Copy)]
enum Term {
    P1M,
    P1Y,
    P3Y,
}

impl Term {
    fn months(self) -> i32 {
        match self {
            Term::P1M => 1,
            Term::P1Y => 12,
            Term::P3Y => 36,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Term::P1M => "P1M",
            Term::P1Y => "P1Y",
            Term::P3Y => "P3Y",
        }
    }
}

/// Last day of the first term.
fn first_term_end(start: Day, term: Term) -> Day {
    add_months(start, term.months()) - 1
}

/// Last day of the term (original or renewed) that contains the evaluation date.
fn current_term_end(start: Day, term: Term) -> Day {
    let mut k = 1;
    loop {
        let end = add_months(start, term.months() * k) - 1;
        if end >= AS_OF {
            return end;
        }
        k += 1;
    }
}

// ------------------------------------------------------------------------------------------------
// Violations.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mc002,
    Mc017,
    Mc021,
    Mc024,
    Mc014,
    Mc009,
    DanglingRef,
    Schema,
}

const ROTATION: [Kind; 8] = [
    Kind::Mc002,
    Kind::Mc017,
    Kind::Mc021,
    Kind::Mc024,
    Kind::Mc014,
    Kind::Mc009,
    Kind::DanglingRef,
    Kind::Schema,
];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Mc002 => "MC002",
            Kind::Mc017 => "MC017",
            Kind::Mc021 => "MC021",
            Kind::Mc024 => "MC024",
            Kind::Mc014 => "MC014",
            Kind::Mc009 => "MC009",
            Kind::DanglingRef => "dangling-ref",
            Kind::Schema => "schema",
        }
    }
}

/// Hands out violation kinds in rotation; a kind that does not fit a customer waits for the next one.
struct Injector {
    rate: f64,
    cursor: usize,
    carry: VecDeque<Kind>,
    counts: [u64; 8],
    mc024_variant: u64,
    schema_variant: u64,
}

// ------------------------------------------------------------------------------------------------
// Partners.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    DirectBill,
    Provider,
    Reseller,
    Advisor,
    NotCsp,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::DirectBill => "direct_bill",
            Role::Provider => "indirect_provider",
            Role::Reseller => "indirect_reseller",
            Role::Advisor => "advisor",
            Role::NotCsp => "none",
        }
    }

    fn is_csp(self) -> bool {
        matches!(self, Role::DirectBill | Role::Provider | Role::Reseller)
    }
}

struct Partner {
    id: String,
    name: String,
    tenant_id: String,
    partner_id: String,
    role: Role,
    market: Market,
    country: &'static str,
    azure_expert_msp: bool,
    unquoted_partner_id: bool,
    /// Providers this reseller has an active partnership with.
    providers: Vec<usize>,
}

struct Partnership {
    id: String,
    provider: usize,
    reseller: usize,
    requested: Day,
    accepted: Option<Day>,
}

struct World {
    partners: Vec<Partner>,
    partnerships: Vec<Partnership>,
    /// Cumulative seller weights (direct-bill partners and indirect resellers).
    sellers: Vec<(u64, usize)>,
    /// Direct-bill partners whose market has another direct-bill partner (transfer sources).
    transfer_sellers: Vec<usize>,
    direct: [Vec<usize>; 5],
    transacting: [Vec<usize>; 5],
    csp: [Vec<usize>; 5],
    customer_width: usize,
    shape: Shape,
}

fn digits(n: usize) -> usize {
    n.max(1).to_string().len()
}

impl World {
    fn build(rng: &mut Rng, customers: usize, shape: Shape, inj: &mut Injector) -> World {
        use Market::*;
        use Role::*;
        let per_partner = if shape.distributor() { 40 } else { 50 };
        let count = (customers / per_partner).max(14);
        let width = digits(count).max(4);
        let base: [(Market, &'static str, Role); 14] = [
            (Europe, "NO", DirectBill),
            (Europe, "DE", Provider),
            (Europe, "SE", Reseller),
            (Europe, "NL", Reseller),
            (Europe, "GB", DirectBill),
            (Us, "US", DirectBill),
            (Us, "US", DirectBill),
            (Us, "US", Provider),
            (Us, "US", Reseller),
            (UsGov, "US", DirectBill),
            (Brazil, "BR", DirectBill),
            (India, "IN", DirectBill),
            (Europe, "FR", Advisor),
            (Europe, "GB", NotCsp),
        ];
        let mut specs: Vec<(Market, &'static str, Role)> = base.to_vec();
        while specs.len() < count {
            let market = MARKETS[rng.weighted(&[45, 30, 6, 9, 10])];
            let role = if market == UsGov {
                DirectBill
            } else {
                [DirectBill, Provider, Reseller, Advisor, NotCsp][rng.weighted(&[30, 6, 44, 8, 12])]
            };
            let country = match market {
                Europe => EUROPE[rng.weighted(&EUROPE_WEIGHTS)],
                _ => market.countries()[0],
            };
            specs.push((market, country, role));
        }
        // An indirect reseller needs a provider in its market.
        let has_provider: Vec<bool> = MARKETS
            .iter()
            .map(|&m| specs.iter().any(|s| s.0 == m && s.2 == Provider))
            .collect();
        for s in &mut specs {
            if s.2 == Reseller && !has_provider[s.0.index()] {
                s.2 = DirectBill;
            }
        }

        let mut used_ids = HashSet::new();
        let mut partners: Vec<Partner> = Vec::with_capacity(count);
        let mut weights = Vec::with_capacity(count);
        for (i, &(market, country, role)) in specs.iter().enumerate() {
            // A US Government partner is often the separate US Gov account of a US commercial
            // partner: same company and PartnerID, different tenant (MC010 edge).
            let twin = if market == UsGov && rng.chance(0.5) {
                partners
                    .iter()
                    .find(|p| p.market == Us && p.role == DirectBill && !p.unquoted_partner_id)
                    .map(|p| (p.name.clone(), p.partner_id.clone()))
            } else {
                None
            };
            let (name, partner_id) = match twin {
                Some(t) => t,
                None => {
                    let name = format!(
                        "{} {} {}",
                        rng.pick(stems(country)),
                        rng.pick(&PARTNER_WORDS),
                        legal_form(rng, country)
                    );
                    let partner_id = loop {
                        let len = rng.range(6, 8) as u32;
                        let lo = 10u64.pow(len - 1);
                        let id = (lo + rng.below(9 * lo)).to_string();
                        if used_ids.insert(id.clone()) {
                            break id;
                        }
                    };
                    (name, partner_id)
                }
            };
            let unquoted = matches!(role, Advisor | NotCsp) && rng.chance(inj.rate);
            if unquoted {
                inj.counts[Kind::Schema as usize] += 1;
            }
            partners.push(Partner {
                id: format!("p{:0width$}", i + 1),
                name,
                tenant_id: rng.guid(),
                partner_id,
                role,
                market,
                country,
                azure_expert_msp: role == DirectBill && rng.chance(0.15),
                unquoted_partner_id: unquoted,
                providers: Vec::new(),
            });
            // Seller weight: a few large partners, many small ones; resellers sell less (two-tier
            // customers end up about a third of all).
            let mut w = 1 + rng.below(12) * rng.below(4);
            if shape.distributor() && rng.chance(0.08) {
                // A distributor's book: a few very large partners.
                w *= 6;
            }
            weights.push(if role == Reseller { 2 * w } else { 5 * w });
        }

        let mut direct: [Vec<usize>; 5] = Default::default();
        let mut transacting: [Vec<usize>; 5] = Default::default();
        let mut csp: [Vec<usize>; 5] = Default::default();
        let mut providers: [Vec<usize>; 5] = Default::default();
        for (i, p) in partners.iter().enumerate() {
            let m = p.market.index();
            match p.role {
                DirectBill => {
                    direct[m].push(i);
                    transacting[m].push(i);
                }
                Provider => {
                    transacting[m].push(i);
                    providers[m].push(i);
                }
                _ => {}
            }
            if p.role.is_csp() {
                csp[m].push(i);
            }
        }

        let mut partnerships = Vec::new();
        for r in 0..partners.len() {
            if partners[r].role != Reseller {
                continue;
            }
            let pool = &providers[partners[r].market.index()];
            let two = if shape.distributor() { 0.95 } else { 0.35 };
            let wanted = if pool.len() > 1 && rng.chance(two) {
                2
            } else {
                1
            };
            let mut chosen: Vec<usize> = Vec::new();
            while chosen.len() < wanted {
                let p = *rng.pick(pool);
                if !chosen.contains(&p) {
                    chosen.push(p);
                }
            }
            for &p in &chosen {
                let requested = rng.range(PARTNERSHIP_FIRST, PARTNERSHIP_LAST);
                partnerships.push(Partnership {
                    id: format!("ip-{}-{}", partners[p].id, partners[r].id),
                    provider: p,
                    reseller: r,
                    requested,
                    accepted: Some(requested + rng.range(1, 10)),
                });
            }
            // Now and then a pending request to one more provider (not used for orders).
            let pending = if shape.distributor() { 0.3 } else { 0.1 };
            if pool.len() > chosen.len() && rng.chance(pending) {
                let p = *pool.iter().find(|p| !chosen.contains(p)).unwrap();
                partnerships.push(Partnership {
                    id: format!("ip-{}-{}", partners[p].id, partners[r].id),
                    provider: p,
                    reseller: r,
                    requested: AS_OF - rng.range(3, 60),
                    accepted: None,
                });
            }
            partners[r].providers = chosen;
        }

        let mut sellers = Vec::new();
        let mut total = 0u64;
        for (i, p) in partners.iter().enumerate() {
            if matches!(p.role, DirectBill | Reseller) {
                total += weights[i];
                sellers.push((total, i));
            }
        }
        let transfer_sellers = partners
            .iter()
            .enumerate()
            .filter(|(_, p)| p.role == DirectBill && direct[p.market.index()].len() > 1)
            .map(|(i, _)| i)
            .collect();
        World {
            partners,
            partnerships,
            sellers,
            transfer_sellers,
            direct,
            transacting,
            csp,
            customer_width: digits(customers).max(6),
            shape,
        }
    }

    fn pick_seller(&self, rng: &mut Rng) -> usize {
        let total = self.sellers.last().map_or(1, |s| s.0);
        let r = rng.below(total);
        let at = self.sellers.partition_point(|s| s.0 <= r);
        self.sellers[at].1
    }

    fn render_partner(&self, p: &Partner, out: &mut String) {
        let mut y = Yaml::begin(out, "Partner", &p.id);
        y.str("name", &p.name);
        y.str("tenant_id", &p.tenant_id);
        if p.unquoted_partner_id {
            y.raw("partner_id", &p.partner_id);
        } else {
            y.quoted("partner_id", &p.partner_id);
        }
        y.raw("csp_role", p.role.as_str());
        y.raw("cloud", p.market.cloud());
        y.str("country", p.country);
        if p.role.is_csp() {
            y.bool("mpa_signed", true);
        } else if p.role == Role::Advisor {
            y.bool("mpa_signed", false);
        }
        if p.role == Role::DirectBill {
            y.bool("azure_expert_msp", p.azure_expert_msp);
        }
        if p.role == Role::NotCsp {
            y.bool("syndication_partner", false);
        }
    }

    fn render_partnership(&self, ip: &Partnership, out: &mut String) {
        let mut y = Yaml::begin(out, "IndirectPartnership", &ip.id);
        y.str("provider", &self.partners[ip.provider].id);
        y.str("reseller", &self.partners[ip.reseller].id);
        y.raw(
            "status",
            if ip.accepted.is_some() {
                "active"
            } else {
                "requested"
            },
        );
        y.date("requested_on", ip.requested);
        y.opt_date("accepted_on", ip.accepted);
    }
}

// ------------------------------------------------------------------------------------------------
// One customer and everything that hangs off it.

struct Customer {
    id: String,
    name: String,
    tenant_id: String,
    domain: String,
    market: Market,
    country: &'static str,
    purpose: Option<&'static str>,
    owned_by: Option<usize>,
    tainted: bool,
}

struct Rel {
    partner: usize,
    accepted: Option<Day>,
    requested: Day,
    include_delegated_admin: bool,
    via: Option<usize>,
}

struct Admin {
    dap: bool,
    partner: usize,
    roles: Vec<&'static str>,
    duration: Option<String>,
    auto_extend: Option<&'static str>,
    status: &'static str,
    created: Day,
    activated: Option<Day>,
    end_on: Option<Day>,
    tainted: bool,
}

struct Sub {
    id: String,
    customer: Option<String>,
    offer: Offer,
    billing: &'static str,
    channel: &'static str,
    commerce: Option<&'static str>,
    por: Option<usize>,
    reseller_partner_id: Option<String>,
    managed_by: Option<usize>,
    term: Option<Term>,
    start: Day,
    end: Option<Day>,
    auto_renew: Option<bool>,
    status: &'static str,
    canceled_on: Option<Day>,
    quantity: Option<u32>,
    replaces: Option<String>,
    /// Part of a transfer or a replacement chain: never a violation carrier.
    protected: bool,
    tainted: bool,
}

impl Sub {
    fn plain(&self) -> bool {
        !self.protected && !self.tainted
    }
}

struct Transfer {
    id: String,
    method: &'static str,
    subs: Vec<String>,
    source: usize,
    target: usize,
    requested: Day,
    effective: Option<Day>,
    complete: bool,
}

/// Document and file counts.
#[derive(Default)]
struct Stats {
    files: u64,
    bytes: u64,
    partners: u64,
    customers: u64,
    relationships: u64,
    admins: u64,
    subscriptions: u64,
    partnerships: u64,
    transfers: u64,
}

impl Stats {
    fn documents(&self) -> u64 {
        self.partners
            + self.customers
            + self.relationships
            + self.admins
            + self.subscriptions
            + self.partnerships
            + self.transfers
    }
}

enum Job {
    Dir(String),
    File(String, String),
}

/// Queues one file and counts it.
fn emit(jobs: &mut Vec<Job>, stats: &mut Stats, path: String, text: String) {
    stats.files += 1;
    stats.bytes += text.len() as u64;
    jobs.push(Job::File(path, text));
}

struct Build<'w> {
    world: &'w World,
    cust: Customer,
    rels: Vec<Rel>,
    admins: Vec<Admin>,
    subs: Vec<Sub>,
    transfers: Vec<Transfer>,
    onboard: Day,
}

fn quantity(rng: &mut Rng) -> u32 {
    match rng.below(20) {
        0 => 300 + rng.below(1700) as u32,
        1..=5 => 25 + rng.below(275) as u32,
        _ => 1 + rng.below(25) as u32,
    }
}

fn pick_term(rng: &mut Rng) -> Term {
    [Term::P1M, Term::P1Y, Term::P3Y][rng.weighted(&[25, 60, 15])]
}

impl<'w> Build<'w> {
    fn new(world: &'w World, rng: &mut Rng, index: usize, domains: &mut HashSet<String>) -> Self {
        let id = format!("c{:0w$}", index + 1, w = world.customer_width);
        let transfer = rng.chance(0.02) && !world.transfer_sellers.is_empty();
        let seller = if transfer {
            *rng.pick(&world.transfer_sellers)
        } else {
            world.pick_seller(rng)
        };
        let sp = &world.partners[seller];
        let market = sp.market;
        let country = if rng.chance(0.85) {
            sp.country
        } else if market == Market::Europe {
            EUROPE[rng.weighted(&EUROPE_WEIGHTS)]
        } else {
            sp.country
        };
        let (name, domain_stem) = if market == Market::UsGov {
            let stem = rng.pick(stems("US"));
            let unit = rng.pick(&GOV_UNITS);
            (format!("{stem} County {unit}"), format!("{stem}{unit}"))
        } else {
            let stem = rng.pick(stems(country));
            let sector = rng.pick(&SECTORS);
            let form = legal_form(rng, country);
            (format!("{stem} {sector} {form}"), format!("{stem}{sector}"))
        };
        let base = slug(&domain_stem);
        let mut label = base.clone();
        let mut n = 2;
        while !domains.insert(label.clone()) {
            label = format!("{base}{n}");
            n += 1;
        }
        let suffix = if market == Market::UsGov {
            "onmicrosoft.us"
        } else {
            "onmicrosoft.com"
        };
        let cust = Customer {
            id,
            name,
            tenant_id: rng.guid(),
            domain: format!("{label}.{suffix}"),
            market,
            country,
            purpose: None,
            owned_by: None,
            tainted: false,
        };
        let mut b = Build {
            world,
            cust,
            rels: Vec::new(),
            admins: Vec::new(),
            subs: Vec::new(),
            transfers: Vec::new(),
            onboard: REL_FIRST,
        };

        // Reseller relationships; lanes are (partner of record, indirect reseller) for CSP orders.
        let gov = market == Market::UsGov;
        let requested = rng.range(REL_FIRST, REL_LAST);
        let accepted = requested + rng.range(0, 14);
        let mut lanes: Vec<(usize, Option<usize>)> = Vec::new();
        let admin_holder;
        if sp.role == Role::Reseller {
            let provider = *rng.pick(&sp.providers);
            let via = rng.chance(0.5);
            b.push_rel(rng, seller, requested, accepted, via.then_some(provider));
            let (preq, pacc) = if via {
                (requested, accepted)
            } else {
                let r = accepted + rng.range(0, 5);
                (r, r + rng.range(0, 7))
            };
            b.push_rel(rng, provider, preq, pacc, None);
            lanes.push((provider, Some(seller)));
            admin_holder = seller;
        } else {
            b.push_rel(rng, seller, requested, accepted, None);
            lanes.push((seller, None));
            admin_holder = seller;
            let second_chance = if world.shape.distributor() { 0.5 } else { 0.25 };
            if transfer || rng.chance(second_chance) {
                let others: Vec<usize> = world.direct[market.index()]
                    .iter()
                    .copied()
                    .filter(|&p| p != seller)
                    .collect();
                if !others.is_empty() {
                    let second = *rng.pick(&others);
                    let r2 = accepted + rng.range(1, 120);
                    let a2 = r2 + rng.range(0, 14);
                    b.push_rel(rng, second, r2, a2, None);
                    lanes.push((second, None));
                }
            }
        }
        if gov {
            for r in &mut b.rels {
                r.include_delegated_admin = true;
            }
        }
        b.onboard = b.rels.iter().filter_map(|r| r.accepted).max().unwrap();
        let holder_accepted = b.rels[0].accepted.unwrap();

        // Delegated admin: an old DAP (removed) now and then, usually a GDAP.
        if holder_accepted < ymd(2022, 6, 1) && rng.chance(0.3) {
            b.admins.push(Admin {
                dap: true,
                partner: admin_holder,
                roles: vec!["Global Administrator", "Helpdesk Administrator"],
                duration: None,
                auto_extend: None,
                status: "terminated",
                created: holder_accepted,
                activated: Some(holder_accepted),
                end_on: Some(rng.range(ymd(2022, 10, 1), ymd(2023, 12, 31))),
                tainted: false,
            });
        }
        let mut manager = None;
        let gdap_chance = if world.shape.distributor() {
            0.45
        } else {
            0.85
        };
        if rng.chance(gdap_chance) {
            let admin = b.gdap(rng, admin_holder, holder_accepted);
            if admin.status == "active" && sp.role == Role::DirectBill {
                manager = Some(seller);
            }
            b.admins.push(admin);
        }

        if world.shape.distributor() && manager.is_none() {
            // A distributor's partners manage what their customers bought elsewhere, with or
            // without admin rights (MC001 infos, MC002 warnings).
            manager = Some(seller);
        }
        // The share of CSP subscriptions; the other channels share the rest in the same ratios.
        let csp_share = if world.shape.distributor() { 55 } else { 70 };
        let n = 1 + rng.below(6) as usize + rng.below(6) as usize;
        while b.subs.len() < n {
            let roll = rng.below(100);
            let roll = if roll < csp_share {
                0
            } else {
                70 + (roll - csp_share) * 30 / (100 - csp_share)
            };
            let channel = match roll {
                0..=69 => "csp",
                70..=77 => "direct",
                78..=83 => "ea",
                84..=86 => "advisor",
                87..=91 => "open",
                _ => "third_party_non_csp",
            };
            if channel == "csp" {
                let (por, reseller) = *rng.pick(&lanes);
                b.csp_sub(rng, por, reseller);
            } else {
                b.other_sub(rng, channel, manager);
            }
        }
        if transfer && lanes.len() > 1 {
            b.transfer(rng, lanes[0].0, lanes[1].0);
        }

        // A partner's separate corporate tenant may buy from another CSP partner (MC009 negative).
        if rng.chance(0.01) {
            if let Some(owner) = b.unrelated(rng, &world.csp[market.index()]) {
                b.cust.purpose = Some("corporate");
                b.cust.owned_by = Some(owner);
                b.cust.name = world.partners[owner].name.clone();
            }
        } else if rng.chance(0.25) {
            b.cust.purpose = Some("customer");
        }
        b
    }

    fn push_rel(
        &mut self,
        rng: &mut Rng,
        partner: usize,
        requested: Day,
        accepted: Day,
        via: Option<usize>,
    ) {
        self.rels.push(Rel {
            partner,
            accepted: Some(accepted),
            requested,
            include_delegated_admin: rng.chance(0.7),
            via,
        });
    }

    fn gdap(&self, rng: &mut Rng, partner: usize, accepted: Day) -> Admin {
        let mut roles = vec!["Directory Readers"];
        let extra = rng.range(1, 4) as usize;
        while roles.len() < extra + 1 {
            let r = *rng.pick(&GDAP_ROLES);
            if !roles.contains(&r) {
                roles.push(r);
            }
        }
        let (days, duration) = match rng.below(20) {
            0 => (731, "P2Y"),
            1..=11 => (730, "P730D"),
            12..=15 => (365, "P365D"),
            16..=17 => (180, "P180D"),
            _ => (90, "P90D"),
        };
        let end_for = |activated: Day| {
            if duration == "P2Y" {
                add_months(activated, 24)
            } else {
                activated + days
            }
        };
        let roll = rng.below(100);
        let mut admin = Admin {
            dap: false,
            partner,
            roles,
            duration: Some(duration.to_string()),
            auto_extend: Some("PT0S"),
            status: "active",
            created: 0,
            activated: None,
            end_on: None,
            tainted: false,
        };
        if roll < 5 && accepted < AS_OF - 200 {
            // Expired: a short relationship that ran out.
            admin.duration = Some("P180D".to_string());
            admin.created = rng.range(accepted + 1, AS_OF - 200);
            let act = admin.created + rng.range(0, 3);
            admin.activated = Some(act);
            admin.end_on = Some(act + 180);
            admin.status = "expired";
        } else if roll < 10 {
            admin.created = rng.range(accepted + 1, AS_OF - 60);
            let act = admin.created + rng.range(0, 3);
            admin.activated = Some(act);
            admin.end_on = Some(rng.range(act + 10, (act + days).min(AS_OF - 1)));
            admin.status = "terminated";
        } else if roll < 13 {
            admin.created = AS_OF - rng.range(1, 30);
            admin.status = "approval_pending";
        } else {
            admin.created = rng.range((accepted + 1).max(AS_OF - days + 5), AS_OF - 5);
            let act = (admin.created + rng.range(0, 3)).min(AS_OF - 1);
            admin.activated = Some(act);
            admin.end_on = Some(end_for(act));
            if rng.chance(0.06) {
                // Global Administrator is allowed when the relationship does not auto-extend.
                admin.roles.push("Global Administrator");
            } else {
                admin.auto_extend = Some(*rng.pick(&["P180D", "P180D", "PT0S", "P0D"]));
            }
        }
        admin
    }

    fn next_sub_id(&self) -> String {
        format!("{}-sub-{:02}", self.cust.id, self.subs.len() + 1)
    }

    fn blank_sub(&self, offer: Offer, channel: &'static str, billing: &'static str) -> Sub {
        Sub {
            id: self.next_sub_id(),
            customer: None,
            offer,
            billing,
            channel,
            commerce: None,
            por: None,
            reseller_partner_id: None,
            managed_by: None,
            term: None,
            start: 0,
            end: None,
            auto_renew: None,
            status: "active",
            canceled_on: None,
            quantity: None,
            replaces: None,
            protected: false,
            tainted: false,
        }
    }

    fn lane_sub(
        &self,
        offer: Offer,
        billing: &'static str,
        por: usize,
        reseller: Option<usize>,
    ) -> Sub {
        let mut s = self.blank_sub(offer, "csp", billing);
        s.por = Some(por);
        s.reseller_partner_id = reseller.map(|r| self.world.partners[r].partner_id.clone());
        s
    }

    fn sub_start(&self, rng: &mut Rng) -> Day {
        rng.range(self.onboard + 1, LAST_START)
    }

    /// A new-commerce license subscription; `active` forces status active.
    fn nce_license(
        &mut self,
        rng: &mut Rng,
        lane: (usize, Option<usize>),
        offer: Offer,
        start: Day,
        active: bool,
    ) -> usize {
        let mut s = self.lane_sub(offer, "license", lane.0, lane.1);
        s.commerce = Some("new_commerce");
        let term = pick_term(rng);
        s.term = Some(term);
        s.start = start;
        s.quantity = Some(quantity(rng));
        let first_end = first_term_end(start, term);
        let roll = if active { 99 } else { rng.below(100) };
        if roll < 5 && first_end < AS_OF {
            s.status = "expired";
            s.end = Some(first_end);
            s.auto_renew = Some(false);
        } else if roll < 9 {
            s.status = "canceled";
            let on = start + rng.range(0, 6);
            s.canceled_on = Some(on);
            s.end = Some(on);
        } else if roll < 15 {
            s.status = if roll < 13 { "suspended" } else { "disabled" };
            s.end = Some(current_term_end(start, term));
            s.auto_renew = Some(false);
        } else {
            s.end = Some(current_term_end(start, term));
            s.auto_renew = Some(rng.chance(0.8));
        }
        self.subs.push(s);
        self.subs.len() - 1
    }

    fn azure_plan(&mut self, rng: &mut Rng, lane: (usize, Option<usize>), start: Day) -> usize {
        let mut s = self.lane_sub(AZURE_PLAN, "usage", lane.0, lane.1);
        s.commerce = Some("new_commerce");
        s.start = start;
        s.status = match rng.below(100) {
            0..=3 => "suspended",
            4..=5 => "disabled",
            _ => "active",
        };
        self.subs.push(s);
        self.subs.len() - 1
    }

    fn csp_sub(&mut self, rng: &mut Rng, por: usize, reseller: Option<usize>) {
        let lane = (por, reseller);
        let roll = rng.below(100);
        let legacy_ok = self.onboard < LEGACY_LAST;
        if roll < 20 {
            let start = self.sub_start(rng);
            self.azure_plan(rng, lane, start);
        } else if roll < 23 && legacy_ok {
            let mut s = self.lane_sub(AZURE_LEGACY_CSP, "usage", por, reseller);
            s.commerce = Some("legacy");
            s.start = rng.range(self.onboard + 1, LEGACY_LAST);
            s.status = if rng.chance(0.8) {
                "active"
            } else {
                "suspended"
            };
            self.subs.push(s);
        } else if roll < 35 && legacy_ok {
            let (offer, successor) = *rng.pick(&LEGACY_LICENSE);
            let mut s = self.lane_sub(offer, "license", por, reseller);
            s.commerce = Some("legacy");
            s.term = Some(Term::P1Y);
            s.start = rng.range(self.onboard + 1, LEGACY_LAST);
            s.quantity = Some(quantity(rng));
            if rng.chance(0.55) {
                // Let it expire and repurchase in new commerce within the 30-day window (MC004).
                let end = first_term_end(s.start, Term::P1Y);
                s.end = Some(end);
                s.auto_renew = Some(false);
                s.status = "deleted";
                s.protected = true;
                let old_id = s.id.clone();
                let seats = s.quantity;
                self.subs.push(s);
                let restart = end + rng.range(1, 10);
                let i = self.nce_license(rng, lane, NCE_LICENSE[successor], restart, true);
                let new = &mut self.subs[i];
                new.replaces = Some(old_id);
                new.quantity = seats;
                new.protected = true;
            } else {
                s.end = Some(current_term_end(s.start, Term::P1Y));
                s.auto_renew = Some(true);
                s.status = if rng.chance(0.85) {
                    "active"
                } else {
                    "suspended"
                };
                self.subs.push(s);
            }
        } else {
            let start = self.sub_start(rng);
            let offer = *rng.pick(&NCE_LICENSE);
            self.nce_license(rng, lane, offer, start, false);
        }
    }

    /// A license subscription bought outside CSP (direct, EA, Advisor, Open, third party).
    fn non_csp_license(&mut self, rng: &mut Rng, offer: Offer, channel: &'static str) -> usize {
        let mut s = self.blank_sub(offer, channel, "license");
        let term = match channel {
            "direct" | "third_party_non_csp" => {
                if rng.chance(0.5) {
                    Term::P1M
                } else {
                    Term::P1Y
                }
            }
            "ea" => Term::P3Y,
            _ => Term::P1Y,
        };
        s.term = Some(term);
        s.start = self.sub_start(rng);
        s.quantity = Some(quantity(rng));
        let first_end = first_term_end(s.start, term);
        if first_end < AS_OF && rng.chance(0.08) {
            s.status = "expired";
            s.end = Some(first_end);
            s.auto_renew = Some(false);
        } else {
            s.end = Some(current_term_end(s.start, term));
            s.auto_renew = Some(rng.chance(0.85));
        }
        self.subs.push(s);
        self.subs.len() - 1
    }

    fn other_sub(&mut self, rng: &mut Rng, channel: &'static str, manager: Option<usize>) {
        let usage = match channel {
            "direct" => rng.chance(0.3).then_some(AZURE_PAYG),
            "ea" => rng.chance(0.55).then_some(AZURE_EA),
            _ => None,
        };
        if let Some(offer) = usage {
            let mut s = self.blank_sub(offer, channel, "usage");
            s.start = self.sub_start(rng);
            self.subs.push(s);
            return;
        }
        let offer = *match channel {
            "direct" => rng.pick(&DIRECT_LICENSE),
            "ea" => rng.pick(&EA_LICENSE),
            "advisor" => rng.pick(&ADVISOR_LICENSE),
            "open" => rng.pick(&OPEN_LICENSE),
            _ => rng.pick(&THIRD_PARTY_LICENSE),
        };
        let i = self.non_csp_license(rng, offer, channel);
        let managed = if self.world.shape.distributor() {
            0.95
        } else {
            0.6
        };
        if manager.is_some() && self.subs[i].status == "active" && rng.chance(managed) {
            self.subs[i].managed_by = manager;
        }
    }

    /// A correct partner-to-partner transfer from `source` to `target` (both direct bill).
    fn transfer(&mut self, rng: &mut Rng, source: usize, target: usize) {
        let azure = rng.chance(0.5);
        let latest = LAST_START - 30;
        let is_subject = |s: &Sub| {
            s.por == Some(source)
                && s.plain()
                && s.status == "active"
                && s.start <= latest
                && if azure {
                    s.offer.id == AZURE_PLAN.id
                } else {
                    s.commerce == Some("new_commerce") && s.billing == "license"
                }
        };
        let subject = match self.subs.iter().position(is_subject) {
            Some(i) => i,
            None => {
                let start = rng.range(self.onboard + 1, latest);
                if azure {
                    let i = self.azure_plan(rng, (source, None), start);
                    self.subs[i].status = "active";
                    i
                } else {
                    let offer = *rng.pick(&NCE_LICENSE);
                    self.nce_license(rng, (source, None), offer, start, true)
                }
            }
        };
        self.subs[subject].protected = true;
        if azure {
            // The target needs its own active Azure plan with the customer (MC007).
            let own = self.subs.iter().position(|s| {
                s.por == Some(target) && s.offer.id == AZURE_PLAN.id && s.status == "active"
            });
            let i = match own {
                Some(i) => i,
                None => {
                    let start = self.sub_start(rng);
                    let i = self.azure_plan(rng, (target, None), start);
                    self.subs[i].status = "active";
                    i
                }
            };
            self.subs[i].protected = true;
        }
        let lo = self.subs[subject].start + 1;
        let (requested, effective, complete) = if rng.chance(0.8) && lo <= AS_OF - 8 {
            let r = rng.range(lo, AS_OF - 8);
            (r, Some(r + rng.range(1, 7)), true)
        } else {
            (rng.range(lo.max(AS_OF - 25), AS_OF - 1), None, false)
        };
        self.transfers.push(Transfer {
            id: format!("{}-tr-{:02}", self.cust.id, self.transfers.len() + 1),
            method: if azure {
                "azure_plan_transfer"
            } else {
                "nce_license_transfer"
            },
            subs: vec![self.subs[subject].id.clone()],
            source,
            target,
            requested,
            effective,
            complete,
        });
    }

    /// A partner from `pool` that has no relationship with this customer.
    fn unrelated(&self, rng: &mut Rng, pool: &[usize]) -> Option<usize> {
        let free: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|p| self.rels.iter().all(|r| r.partner != *p))
            .collect();
        (!free.is_empty()).then(|| *rng.pick(&free))
    }

    fn documents(&self) -> usize {
        1 + self.rels.len() + self.admins.len() + self.subs.len() + self.transfers.len()
    }

    fn pick_sub(&self, rng: &mut Rng, ok: impl Fn(&Sub) -> bool) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.subs.len())
            .filter(|&i| ok(&self.subs[i]))
            .collect();
        (!candidates.is_empty()).then(|| *rng.pick(&candidates))
    }

    /// Tries to put a violation of `kind` into this customer's documents.
    fn inject(&mut self, rng: &mut Rng, kind: Kind, inj: &mut Injector) -> bool {
        let world = self.world;
        let market = self.cust.market;
        match kind {
            Kind::Mc002 => {
                // A partner manages a license subscription bought on the web, but the customer never
                // accepted its reseller relationship request.
                let Some(q) = self.unrelated(rng, &world.transacting[market.index()]) else {
                    return false;
                };
                let offer = *rng.pick(&DIRECT_LICENSE);
                let mut s = self.blank_sub(offer, "direct", "license");
                let term = if rng.chance(0.5) {
                    Term::P1M
                } else {
                    Term::P1Y
                };
                s.term = Some(term);
                s.start = self.sub_start(rng);
                s.end = Some(current_term_end(s.start, term));
                s.auto_renew = Some(true);
                s.quantity = Some(quantity(rng));
                s.managed_by = Some(q);
                s.tainted = true;
                self.subs.push(s);
                self.rels.push(Rel {
                    partner: q,
                    accepted: None,
                    requested: rng.range(self.onboard, AS_OF - 20),
                    include_delegated_admin: true,
                    via: None,
                });
                true
            }
            Kind::Mc017 => {
                if self.cust.tainted {
                    return false;
                }
                self.cust.country = *rng.pick(market.outside());
                self.cust.tainted = true;
                true
            }
            Kind::Mc021 => {
                let Some(a) = self.admins.iter_mut().find(|a| !a.dap && !a.tainted) else {
                    return false;
                };
                a.duration = Some("P3Y".to_string());
                a.end_on = Some(add_months(a.activated.unwrap_or(a.created), 36));
                a.tainted = true;
                true
            }
            Kind::Mc024 => {
                let canceled_late = inj.mc024_variant % 2 == 1;
                let nce = |s: &Sub| {
                    s.plain()
                        && s.channel == "csp"
                        && s.billing == "license"
                        && s.commerce == Some("new_commerce")
                };
                let pick = if canceled_late {
                    self.pick_sub(rng, nce)
                } else {
                    None
                };
                if let Some(i) = pick {
                    // New-commerce subscription canceled 12 days after purchase (limit: 7).
                    let s = &mut self.subs[i];
                    s.status = "canceled";
                    s.canceled_on = Some(s.start + 12);
                    s.end = s.canceled_on;
                    s.auto_renew = None;
                    s.tainted = true;
                } else {
                    // Still active after its term ended although it does not auto-renew.
                    let Some(i) = self.pick_sub(rng, |s| {
                        s.plain() && s.billing == "license" && s.term.is_some()
                    }) else {
                        return false;
                    };
                    let latest = ymd(2024, 5, 25);
                    let start = if self.subs[i].start > latest {
                        rng.range(self.onboard + 1, latest)
                    } else {
                        self.subs[i].start
                    };
                    let s = &mut self.subs[i];
                    let mut term = s.term.unwrap();
                    if first_term_end(start, term) >= AS_OF {
                        term = Term::P1M;
                    }
                    s.term = Some(term);
                    s.start = start;
                    s.end = Some(first_term_end(start, term));
                    s.auto_renew = Some(false);
                    s.status = "active";
                    s.canceled_on = None;
                    s.tainted = true;
                }
                inj.mc024_variant += 1;
                true
            }
            Kind::Mc014 => {
                // The provider writes its own PartnerID as reseller of record.
                let Some(i) = self.pick_sub(rng, |s| s.plain() && s.reseller_partner_id.is_some())
                else {
                    return false;
                };
                let s = &mut self.subs[i];
                s.reseller_partner_id = Some(world.partners[s.por.unwrap()].partner_id.clone());
                s.tainted = true;
                true
            }
            Kind::Mc009 => {
                // The customer is another CSP partner's transacting tenant.
                if self.cust.tainted || !self.subs.iter().any(|s| s.channel == "csp") {
                    return false;
                }
                let Some(owner) = self.unrelated(rng, &world.csp[market.index()]) else {
                    return false;
                };
                self.cust.purpose = Some("csp_transacting");
                self.cust.owned_by = Some(owner);
                self.cust.tainted = true;
                true
            }
            Kind::DanglingRef => {
                let Some(i) = self.pick_sub(rng, Sub::plain) else {
                    return false;
                };
                // A typo in the customer id: one digit dropped, so no customer has that id.
                let mut typo = self.cust.id.clone();
                typo.remove(1);
                self.subs[i].customer = Some(typo);
                self.subs[i].tainted = true;
                true
            }
            Kind::Schema => {
                for step in 0..3 {
                    let variant = (inj.schema_variant + step) % 3;
                    let done = match variant {
                        0 if !self.cust.tainted => {
                            self.cust.purpose = Some(match self.cust.purpose {
                                Some("corporate") => "corprate",
                                _ => "custmer",
                            });
                            self.cust.tainted = true;
                            true
                        }
                        1 => match self.pick_sub(rng, |s| s.plain() && s.status == "active") {
                            Some(i) => {
                                self.subs[i].status = "actve";
                                self.subs[i].tainted = true;
                                true
                            }
                            None => false,
                        },
                        2 => match self.pick_sub(rng, |s| s.plain() && s.billing == "license") {
                            Some(i) => {
                                self.subs[i].billing = "licence";
                                self.subs[i].tainted = true;
                                true
                            }
                            None => false,
                        },
                        _ => false,
                    };
                    if done {
                        inj.schema_variant = variant + 1;
                        return true;
                    }
                }
                false
            }
        }
    }

    /// Draws how many documents carry a violation and puts them in, rotating through the kinds.
    fn inject_violations(&mut self, rng: &mut Rng, inj: &mut Injector) {
        let docs = self.documents();
        let wanted = (0..docs).filter(|_| rng.chance(inj.rate)).count();
        'slots: for _ in 0..wanted {
            for i in 0..inj.carry.len() {
                let kind = inj.carry[i];
                if self.inject(rng, kind, inj) {
                    inj.carry.remove(i);
                    inj.counts[kind as usize] += 1;
                    continue 'slots;
                }
            }
            for _ in 0..ROTATION.len() {
                let kind = ROTATION[inj.cursor % ROTATION.len()];
                inj.cursor += 1;
                if self.inject(rng, kind, inj) {
                    inj.counts[kind as usize] += 1;
                    continue 'slots;
                }
                if inj.carry.len() < 32 {
                    inj.carry.push_back(kind);
                }
            }
        }
    }

    fn render(&self, jobs: &mut Vec<Job>, stats: &mut Stats) {
        let world = self.world;
        let pid = |i: usize| world.partners[i].id.as_str();
        let cid = self.cust.id.as_str();

        let c = &self.cust;
        let mut out = String::with_capacity(320);
        let mut y = Yaml::begin(&mut out, "Customer", cid);
        y.str("name", &c.name);
        y.str("tenant_id", &c.tenant_id);
        y.str("domain", &c.domain);
        y.raw("cloud", c.market.cloud());
        y.str("tenant_country", c.country);
        y.opt_str("tenant_purpose", c.purpose);
        y.opt_str("owned_by_partner", c.owned_by.map(pid));
        if c.market == Market::UsGov {
            y.bool("gov_eligibility_validated", true);
        }
        emit(jobs, stats, format!("customers/{cid}.yaml"), out);
        stats.customers += 1;

        let mut out = String::with_capacity(400 * (self.rels.len() + self.admins.len()));
        for r in &self.rels {
            if !out.is_empty() {
                out.push_str("---\n");
            }
            let id = format!("{cid}-rr-{}", pid(r.partner));
            let mut y = Yaml::begin(&mut out, "ResellerRelationship", &id);
            y.str("partner", pid(r.partner));
            y.str("customer", cid);
            match r.accepted {
                Some(acc) => {
                    y.raw("status", "accepted");
                    y.date("requested_on", r.requested);
                    y.date("accepted_on", acc);
                    y.raw("accepted_by_role", "global_admin");
                    y.bool("include_delegated_admin", r.include_delegated_admin);
                    y.date("mca_accepted_on", acc);
                }
                None => {
                    y.raw("status", "requested");
                    y.date("requested_on", r.requested);
                    y.bool("include_delegated_admin", r.include_delegated_admin);
                }
            }
            y.opt_str("via_indirect_provider", r.via.map(pid));
            stats.relationships += 1;
        }
        for a in &self.admins {
            out.push_str("---\n");
            let kind = if a.dap { "dap" } else { "gdap" };
            let id = format!("{cid}-{kind}-{}", pid(a.partner));
            let mut y = Yaml::begin(&mut out, "DelegatedAdmin", &id);
            y.raw("type", kind);
            y.str("partner", pid(a.partner));
            y.str("customer", cid);
            y.list("roles", &a.roles);
            y.opt_str("duration", a.duration.as_deref());
            y.opt_str("auto_extend", a.auto_extend);
            y.raw("status", a.status);
            y.date("created_on", a.created);
            y.opt_date("activated_on", a.activated);
            y.opt_date("end_on", a.end_on);
            stats.admins += 1;
        }
        emit(jobs, stats, format!("relationships/{cid}.yaml"), out);

        jobs.push(Job::Dir(format!("subscriptions/{cid}")));
        for s in &self.subs {
            let mut out = String::with_capacity(480);
            let mut y = Yaml::begin(&mut out, "Subscription", &s.id);
            y.str("customer", s.customer.as_deref().unwrap_or(cid));
            y.opt_str("offer_id", s.offer.id);
            y.str("offer_name", s.offer.name);
            y.raw("product_family", s.offer.family);
            y.raw("billing_model", s.billing);
            y.raw("channel", s.channel);
            y.opt_str("commerce", s.commerce);
            y.opt_str("partner_of_record", s.por.map(pid));
            if let Some(r) = &s.reseller_partner_id {
                y.quoted("reseller_partner_id", r);
            }
            y.opt_str("managed_by", s.managed_by.map(pid));
            y.opt_str("term_duration", s.term.map(Term::as_str));
            y.date("start_date", s.start);
            y.opt_date("end_date", s.end);
            y.opt_bool("auto_renew", s.auto_renew);
            y.raw("status", s.status);
            y.opt_date("canceled_on", s.canceled_on);
            if let Some(q) = s.quantity {
                y.num("quantity", q);
            }
            y.opt_str("replaces", s.replaces.as_deref());
            emit(
                jobs,
                stats,
                format!("subscriptions/{cid}/{}.yaml", s.id),
                out,
            );
            stats.subscriptions += 1;
        }

        for t in &self.transfers {
            let mut out = String::with_capacity(400);
            let mut y = Yaml::begin(&mut out, "Transfer", &t.id);
            y.raw("method", t.method);
            y.str("customer", cid);
            y.list("subscriptions", &t.subs);
            y.str("source_partner", pid(t.source));
            y.raw("source_channel", "csp");
            y.str("target_partner", pid(t.target));
            y.raw("initiated_by", "target_partner");
            y.bool("source_approved", t.complete);
            y.date("requested_on", t.requested);
            y.opt_date("effective_on", t.effective);
            y.raw("status", if t.complete { "complete" } else { "pending" });
            emit(jobs, stats, format!("transfers/{}.yaml", t.id), out);
            stats.transfers += 1;
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Writing: four threads, one `write` per file. Each thread owns its directories, so no two threads
// create files in the same directory at the same time (on ext4, threads sharing a directory were
// slower than a single thread): lane 0 writes partners/, partnerships/, customers/ and transfers/,
// lane 1 relationships/, lanes 2 and 3 subscriptions/ split by the customer id's last digit.

const LANES: usize = 4;

fn lane(path: &str) -> usize {
    if let Some(rest) = path.strip_prefix("subscriptions/") {
        let customer = rest.split('/').next().unwrap_or(rest);
        2 + usize::from(customer.bytes().last().unwrap_or(0) % 2)
    } else if path.starts_with("relationships/") {
        1
    } else {
        0
    }
}

struct Writer {
    lanes: Vec<mpsc::SyncSender<Vec<Job>>>,
    handles: Vec<thread::JoinHandle<io::Result<()>>>,
}

impl Writer {
    fn start(out: &Path) -> Writer {
        let mut lanes = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..LANES {
            let (tx, rx) = mpsc::sync_channel::<Vec<Job>>(8);
            let out = out.to_path_buf();
            handles.push(thread::spawn(move || -> io::Result<()> {
                for batch in rx {
                    for job in batch {
                        match job {
                            Job::Dir(p) => fs::create_dir(out.join(p))?,
                            Job::File(p, text) => fs::write(out.join(p), text)?,
                        }
                    }
                }
                Ok(())
            }));
            lanes.push(tx);
        }
        Writer { lanes, handles }
    }

    /// Queues a batch; false when a writer has stopped (an error, reported by `finish`).
    fn send(&self, batch: Vec<Job>) -> bool {
        let mut lanes: Vec<Vec<Job>> = (0..LANES).map(|_| Vec::new()).collect();
        for job in batch {
            let (Job::Dir(p) | Job::File(p, _)) = &job;
            lanes[lane(p)].push(job);
        }
        lanes
            .into_iter()
            .zip(&self.lanes)
            .all(|(jobs, tx)| jobs.is_empty() || tx.send(jobs).is_ok())
    }

    fn finish(self) -> io::Result<()> {
        drop(self.lanes);
        let mut result = Ok(());
        for h in self.handles {
            let r = h.join().expect("writer thread panicked");
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

// ------------------------------------------------------------------------------------------------
// Command line.

struct Args {
    customers: usize,
    seed: u64,
    rate: f64,
    shape: Shape,
    force: bool,
    out: PathBuf,
}

/// The book of business's shape. `Default` is the original generator, byte for byte; `Distributor`
/// resembles an independently written book (issue 15): a higher partner fan-out, fewer GDAP
/// records, twice the indirect partnerships and about half of all findings MC001 infos. Each
/// distributor-only choice draws from the PRNG only in that shape, so the default tree is unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    Default,
    Distributor,
}

impl Shape {
    fn distributor(self) -> bool {
        self == Shape::Distributor
    }
}

fn parse_args(argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut customers = 100usize;
    let mut seed = 7u64;
    let mut rate = 0.02f64;
    let mut shape = Shape::Default;
    let mut force = false;
    let mut out = None;
    let mut argv = argv.peekable();
    while let Some(arg) = argv.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--force" => force = true,
            "--customers" => {
                let v = value("--customers")?;
                customers = v
                    .parse()
                    .map_err(|_| format!("--customers: not a count: {v}"))?;
            }
            "--seed" => {
                let v = value("--seed")?;
                seed = v
                    .parse()
                    .map_err(|_| format!("--seed: not a number: {v}"))?;
            }
            "--violation-rate" => {
                let v = value("--violation-rate")?;
                rate = v
                    .parse()
                    .ok()
                    .filter(|r: &f64| (0.0..=1.0).contains(r))
                    .ok_or_else(|| format!("--violation-rate: not a number in 0..1: {v}"))?;
            }
            "--shape" => {
                let v = value("--shape")?;
                shape = match v.as_str() {
                    "default" => Shape::Default,
                    "distributor" => Shape::Distributor,
                    _ => return Err(format!("--shape: not `default` or `distributor`: {v}")),
                };
            }
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            _ => {
                if out.is_some() {
                    return Err(format!("more than one OUT_DIR: {arg}"));
                }
                out = Some(PathBuf::from(arg));
            }
        }
    }
    let out = out.ok_or("missing OUT_DIR")?;
    Ok(Some(Args {
        customers,
        seed,
        rate,
        shape,
        force,
        out,
    }))
}

const TOP_DIRS: [&str; 6] = [
    "partners",
    "customers",
    "relationships",
    "subscriptions",
    "partnerships",
    "transfers",
];

fn prepare_out(out: &Path, force: bool) -> Result<(), String> {
    let shown = out.display();
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                if !force {
                    return Err(format!(
                        "{shown} is not empty; pass --force to write into it"
                    ));
                }
                for d in TOP_DIRS {
                    let p = out.join(d);
                    if p.exists() {
                        fs::remove_dir_all(&p)
                            .map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
                    }
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(out).map_err(|e| format!("cannot create {shown}: {e}"))?;
        }
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    }
    for d in TOP_DIRS {
        let p = out.join(d);
        fs::create_dir(&p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
    }
    Ok(())
}

fn run(args: &Args) -> Result<String, String> {
    prepare_out(&args.out, args.force)?;
    let started = Instant::now();
    let mut rng = Rng::new(args.seed);
    let mut inj = Injector {
        rate: args.rate,
        cursor: 0,
        carry: VecDeque::new(),
        counts: [0; 8],
        mc024_variant: 0,
        schema_variant: 0,
    };
    let mut stats = Stats::default();
    let world = World::build(&mut rng, args.customers, args.shape, &mut inj);
    let writer = Writer::start(&args.out);

    let mut jobs = Vec::new();
    for p in &world.partners {
        let mut text = String::with_capacity(300);
        world.render_partner(p, &mut text);
        stats.partners += 1;
        emit(
            &mut jobs,
            &mut stats,
            format!("partners/{}.yaml", p.id),
            text,
        );
    }
    for ip in &world.partnerships {
        let mut text = String::with_capacity(200);
        world.render_partnership(ip, &mut text);
        stats.partnerships += 1;
        emit(
            &mut jobs,
            &mut stats,
            format!("partnerships/{}.yaml", ip.id),
            text,
        );
    }
    let mut ok = writer.send(std::mem::take(&mut jobs));

    let mut domains = HashSet::with_capacity(args.customers);
    for index in 0..args.customers {
        if !ok {
            break;
        }
        let mut b = Build::new(&world, &mut rng, index, &mut domains);
        b.inject_violations(&mut rng, &mut inj);
        b.render(&mut jobs, &mut stats);
        if jobs.len() >= 2048 {
            ok = writer.send(std::mem::take(&mut jobs));
        }
    }
    if ok && !jobs.is_empty() {
        writer.send(jobs);
    }
    writer
        .finish()
        .map_err(|e| format!("writing {}: {e}", args.out.display()))?;

    let injected: u64 = inj.counts.iter().sum();
    let mix: Vec<String> = ROTATION
        .iter()
        .map(|k| format!("{} {}", k.label(), inj.counts[*k as usize]))
        .collect();
    Ok(format!(
        "generate: {} files, {} documents ({} partners, {} customers, {} reseller relationships, \
         {} delegated admins, {} subscriptions, {} partnerships, {} transfers), {} bytes in {}; \
         injected violations {} ({}); {:.2} s",
        stats.files,
        stats.documents(),
        stats.partners,
        stats.customers,
        stats.relationships,
        stats.admins,
        stats.subscriptions,
        stats.partnerships,
        stats.transfers,
        stats.bytes,
        args.out.display(),
        injected,
        mix.join(", "),
        started.elapsed().as_secs_f64()
    ))
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(None) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(Some(args)) => match run(&args) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("generate: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("generate: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The generator without its command line, for tests that include this file as a module
/// (`#[path = "../examples/generate.rs"] mod generate;`): `argv` as after the program name;
/// returns the summary line.
#[allow(dead_code)]
pub fn generate(argv: &[&str]) -> Result<String, String> {
    let args = parse_args(argv.iter().map(|a| a.to_string()))?.ok_or("no output directory")?;
    run(&args)
}
