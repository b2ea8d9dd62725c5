//! CSP markets for rule MC017: which tenant countries a partner may sell to.
//!
//! Source: Partner Center page "CSP global markets", repository
//! `kvamseek/partner-center`, path `regional-authorization-overview.md`,
//! commit `85eb3c40f4925934e4e7100d4a97d951aa679052`, ms.date 08/17/2023.
//!
//! The page says "Your company's location determines your market." A partner
//! located in a country may sell to customers whose *tenant* country is in the
//! same market; the physical address does not count. Country names from the
//! page are stored as ISO 3166-1 alpha-2 codes, each commented with the page's
//! own spelling so a reviewer can check the transcription line by line.
//!
//! A country listed in more than one market would be handled as follows:
//! [`market_of`] returns the first market in [`MARKETS`] order, and
//! [`can_sell_to`] is true if the two countries share any market. The source
//! page currently lists every country once (the tests check this).

use std::collections::HashMap;
use std::sync::OnceLock;

/// One CSP region and market: a partner located in any of `countries` may
/// sell to customers whose tenant country is any of `countries`.
#[derive(Debug, PartialEq, Eq)]
pub struct Market {
    /// Market name as in the page's "… region and market" heading.
    pub name: &'static str,
    /// ISO 3166-1 alpha-2 codes, upper case, in the page's order.
    pub countries: &'static [&'static str],
}

/// Every market on the source page, in the page's order.
pub static MARKETS: &[Market] = &[
    Market {
        name: "Africa",
        // The page's intro says "all 18 countries in the Africa region", but
        // its table lists 47 rows; we follow the table.
        countries: &[
            "AO", // Angola
            "BJ", // Benin
            "BW", // Botswana
            "BF", // Burkina Faso
            "BI", // Burundi
            "CM", // Cameroon
            "CV", // Cabo Verde
            "CF", // Central African Republic
            "TD", // Chad
            "KM", // Comoros
            "CG", // Congo
            "CD", // Congo (DRC)
            "CI", // Côte d'Ivoire
            "DJ", // Djibouti
            "GQ", // Equatorial Guinea
            "ER", // Eritrea
            "ET", // Ethiopia
            "PF", // French Polynesia (listed under Africa on the page)
            "GA", // Gabon
            "GM", // Gambia
            "GH", // Ghana
            "GN", // Guinea
            "GW", // Guinea-Bissau
            "KE", // Kenya
            "LR", // Liberia
            "MG", // Madagascar
            "MW", // Malawi
            "ML", // Mali
            "MU", // Mauritius
            "YT", // Mayotte
            "NA", // Namibia
            "NC", // New Caledonia (listed under Africa on the page)
            "NE", // Niger
            "NG", // Nigeria
            "RE", // Reunion
            "RW", // Rwanda
            "ST", // São Tomé and Príncipe
            "SN", // Senegal
            "SC", // Seychelles
            "SL", // Sierra Leone
            "SO", // Somalia
            "SS", // South Sudan
            "SH", // St Helena, Ascension, Tristan da Cunha
            "TZ", // Tanzania
            "TG", // Togo
            "UG", // Uganda
            "ZM", // Zambia
        ],
    },
    Market {
        name: "Asia and Pacific",
        countries: &[
            "BD", // Bangladesh
            "BT", // Bhutan
            "BN", // Brunei Darussalam
            "KH", // Cambodia
            "HK", // Hong Kong Special Administrative Region
            "ID", // Indonesia
            "LA", // Laos
            "MO", // Macao Special Administrative Region
            "MY", // Malaysia
            "MV", // Maldives
            "MM", // Myanmar
            "NP", // Nepal
            "PH", // Philippines
            "SG", // Singapore
            "LK", // Sri Lanka
            "TH", // Thailand
            "TL", // Timor-Leste
            "VN", // Vietnam
        ],
    },
    Market {
        name: "Australia",
        countries: &[
            "AU", // Australia
            "CX", // Christmas Island
            "CC", // Cocos (Keeling) Islands
            "CK", // Cook Islands
            "FJ", // Fiji
            "TF", // French Southern Territories
            "HM", // Heard Island and McDonald Islands
            "KI", // Kiribati
            "MH", // Marshall Islands
            "FM", // Micronesia
            "NR", // Nauru
            "NU", // Niue
            "NF", // Norfolk Island
            "PW", // Palau
            "PG", // Papua New Guinea
            "PN", // Pitcairn Islands
            "SB", // Solomon Islands
            "TK", // Tokelau
            "TO", // Tonga
            "TV", // Tuvalu
            "WF", // Wallis and Futuna
        ],
    },
    Market {
        name: "Brazil",
        countries: &["BR"],
    },
    Market {
        name: "Canada",
        countries: &[
            "CA", // Canada
            "PM", // Saint Pierre and Miquelon
        ],
    },
    Market {
        name: "China",
        countries: &["CN"],
    },
    Market {
        name: "Europe",
        countries: &[
            "AX", // Åland Islands
            "AD", // Andorra
            "AT", // Austria
            "BE", // Belgium
            "BV", // Bouvet Island
            "BG", // Bulgaria
            "HR", // Croatia
            "CY", // Cyprus
            "CZ", // Czech Republic
            "DK", // Denmark
            "EE", // Estonia
            "FO", // Faroe Islands
            "FI", // Finland
            "FR", // France
            "DE", // Germany
            "GI", // Gibraltar
            "GR", // Greece
            "GL", // Greenland
            "GG", // Guernsey
            "HU", // Hungary
            "IS", // Iceland
            "IE", // Ireland
            "IM", // Isle of Man
            "IT", // Italy
            "JE", // Jersey
            "LV", // Latvia
            "LI", // Liechtenstein
            "LT", // Lithuania
            "LU", // Luxembourg
            "MT", // Malta
            "MC", // Monaco
            "NL", // Netherlands
            "NO", // Norway
            "PL", // Poland
            "PT", // Portugal
            "RO", // Romania
            "SM", // San Marino
            "SK", // Slovakia
            "SI", // Slovenia
            "ES", // Spain
            "SJ", // Svalbard and Jan Mayen
            "SE", // Sweden
            "CH", // Switzerland
            "GB", // UK
            "VA", // Vatican City
        ],
    },
    Market {
        name: "India",
        countries: &["IN"],
    },
    Market {
        name: "Japan",
        countries: &["JP"],
    },
    Market {
        name: "Korea, Republic of",
        countries: &["KR"],
    },
    Market {
        name: "Latin America and the Caribbean",
        // The page lists Bonaire, Saba and Sint Eustatius as three rows; ISO
        // 3166-1 gives them one code (BQ), so they appear once here.
        countries: &[
            "AI", // Anguilla
            "AQ", // Antarctica
            "AG", // Antigua and Barbuda
            "AR", // Argentina
            "AW", // Aruba
            "BS", // Bahamas
            "BB", // Barbados
            "BZ", // Belize
            "BM", // Bermuda
            "BO", // Bolivia
            "BQ", // Bonaire; also Saba and Sint Eustatius
            "VG", // British Virgin Islands
            "KY", // Cayman Islands
            "CL", // Chile
            "CO", // Colombia
            "CR", // Costa Rica
            "CW", // Curaçao
            "DM", // Dominica
            "DO", // Dominican Republic
            "EC", // Ecuador
            "SV", // El Salvador
            "FK", // Falkland Islands
            "GF", // French Guiana
            "GD", // Grenada
            "GP", // Guadeloupe
            "GT", // Guatemala
            "GY", // Guyana
            "HT", // Haiti
            "HN", // Honduras
            "JM", // Jamaica
            "MQ", // Martinique
            "MX", // Mexico
            "MS", // Montserrat
            "NI", // Nicaragua
            "PA", // Panama
            "PY", // Paraguay
            "PE", // Peru
            "PR", // Puerto Rico (Latin America on the page, not United States)
            "BL", // Saint Barthélemy
            "KN", // Saint Kitts and Nevis
            "LC", // Saint Lucia
            "MF", // Saint Martin
            "VC", // Saint Vincent and the Grenadines
            "SX", // Sint Maarten
            "GS", // South Georgia and South Sandwich Islands
            "SR", // Suriname
            "TT", // Trinidad and Tobago
            "TC", // Turks and Caicos Islands
            "UY", // Uruguay
            "VE", // Venezuela
            "VI", // Virgin Islands, U.S. (Latin America on the page)
        ],
    },
    Market {
        name: "Middle East, Central Europe, and Eastern Europe",
        countries: &[
            "AF", // Afghanistan
            "AL", // Albania
            "DZ", // Algeria
            "AM", // Armenia
            "AZ", // Azerbaijan
            "BH", // Bahrain
            "BA", // Bosnia and Herzegovina
            "IO", // British Indian Ocean Territory
            "EG", // Egypt
            "GE", // Georgia
            "IQ", // Iraq
            "IL", // Israel
            "JO", // Jordan
            "KZ", // Kazakhstan
            // Kosovo has no official ISO 3166-1 code; XK is the user-assigned
            // code that Microsoft, the EU and others use for it.
            "XK", // Kosovo
            "KW", // Kuwait
            "KG", // Kyrgyzstan
            "LB", // Lebanon
            "LS", // Lesotho
            "LY", // Libya
            "MR", // Mauritania
            "MD", // Moldova
            "MN", // Mongolia
            "ME", // Montenegro
            "MA", // Morocco
            "MZ", // Mozambique
            "MK", // North Macedonia, Republic of
            "OM", // Oman
            "PK", // Pakistan
            "PS", // Palestinian Authority
            "QA", // Qatar
            "SA", // Saudi Arabia
            "RS", // Serbia
            "ZA", // South Africa
            "SZ", // Swaziland (Eswatini)
            "TJ", // Tajikistan
            "TN", // Tunisia
            "TR", // Türkiye
            "TM", // Turkmenistan
            "UA", // Ukraine
            "AE", // United Arab Emirates
            "UZ", // Uzbekistan
            "YE", // Yemen
            "ZW", // Zimbabwe
        ],
    },
    Market {
        name: "New Zealand",
        countries: &[
            "NZ", // New Zealand
            "WS", // Samoa
            "VU", // Vanuatu
        ],
    },
    Market {
        name: "Taiwan",
        countries: &["TW"],
    },
    Market {
        name: "United States",
        countries: &[
            "AS", // American Samoa
            "GU", // Guam
            "MP", // Northern Mariana Islands
            "US", // United States
            "UM", // U.S. Outlying Islands
        ],
    },
];

/// An upper-cased two-letter country code, used as the lookup key so that a
/// lookup never allocates.
type CountryKey = [u8; 2];

/// Normalises user input ("gu", " GU ") to a key; anything that is not two
/// ASCII letters cannot be in the table and yields `None`.
fn country_key(country: &str) -> Option<CountryKey> {
    match *country.trim().as_bytes() {
        [first, second] if first.is_ascii_alphabetic() && second.is_ascii_alphabetic() => {
            Some([first.to_ascii_uppercase(), second.to_ascii_uppercase()])
        }
        _ => None,
    }
}

/// Country → indices into [`MARKETS`], built once on first use. A list rather
/// than a single index so that a country listed in several markets is not
/// silently narrowed to one of them.
fn markets_by_country() -> &'static HashMap<CountryKey, Vec<usize>> {
    static INDEX: OnceLock<HashMap<CountryKey, Vec<usize>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index: HashMap<CountryKey, Vec<usize>> = HashMap::new();
        for (market_index, market) in MARKETS.iter().enumerate() {
            for country in market.countries {
                let key = country_key(country).expect("table holds two-letter codes");
                let markets = index.entry(key).or_default();
                if !markets.contains(&market_index) {
                    markets.push(market_index);
                }
            }
        }
        index
    })
}

fn market_indices(country: &str) -> Option<&'static [usize]> {
    let key = country_key(country)?;
    markets_by_country().get(&key).map(Vec::as_slice)
}

/// The market a partner located in `country` sells in (case-insensitive
/// ISO 3166-1 alpha-2 code), or `None` if the source lists no such country.
/// Should a country ever be listed in several markets, the first in
/// [`MARKETS`] order is returned; use [`can_sell_to`] for the sales check.
#[must_use]
pub fn market_of(country: &str) -> Option<&'static Market> {
    market_indices(country)?
        .first()
        .map(|&market_index| &MARKETS[market_index])
}

/// Whether a partner located in `partner_country` may sell to a customer
/// whose tenant country is `tenant_country`: true if the two share a market.
///
/// Returns `None` when the partner country is in no known market, so the
/// caller can report "unknown market" rather than guess. An unknown tenant
/// country is simply outside every market, hence `Some(false)`.
#[must_use]
pub fn can_sell_to(partner_country: &str, tenant_country: &str) -> Option<bool> {
    let partner_markets = market_indices(partner_country)?;
    let tenant_markets = market_indices(tenant_country).unwrap_or_default();
    Some(
        partner_markets
            .iter()
            .any(|market| tenant_markets.contains(market)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn norway_and_sweden_share_the_europe_market() {
        assert_eq!(can_sell_to("NO", "SE"), Some(true));
        assert_eq!(market_of("NO").map(|market| market.name), Some("Europe"));
    }

    #[test]
    fn guam_is_in_the_united_states_market() {
        assert_eq!(can_sell_to("US", "GU"), Some(true));
        assert_eq!(market_of("GU"), market_of("US"));
    }

    #[test]
    fn brazil_and_united_states_cannot_sell_to_each_other() {
        assert_eq!(can_sell_to("BR", "US"), Some(false));
        assert_eq!(can_sell_to("US", "BR"), Some(false));
    }

    #[test]
    fn india_is_a_single_country_market() {
        let india = market_of("IN").expect("India has a market");
        assert_eq!(india.countries, ["IN"]);
        assert_eq!(can_sell_to("IN", "IN"), Some(true));
        assert_eq!(can_sell_to("IN", "LK"), Some(false));
    }

    #[test]
    fn unknown_partner_country_has_no_market() {
        assert_eq!(market_of("ZZ"), None);
        assert_eq!(can_sell_to("ZZ", "US"), None);
        assert_eq!(can_sell_to("", "US"), None);
        assert_eq!(can_sell_to("USA", "US"), None);
    }

    #[test]
    fn unknown_tenant_country_is_outside_the_market() {
        assert_eq!(can_sell_to("US", "ZZ"), Some(false));
    }

    #[test]
    fn lookups_ignore_case() {
        assert_eq!(can_sell_to("no", "se"), Some(true));
        assert_eq!(can_sell_to("Us", "gU"), Some(true));
        assert_eq!(market_of("in"), market_of("IN"));
    }

    #[test]
    fn every_code_is_two_upper_case_ascii_letters() {
        for market in MARKETS {
            for country in market.countries {
                assert!(
                    country.len() == 2 && country.bytes().all(|byte| byte.is_ascii_uppercase()),
                    "{country:?} in {}",
                    market.name
                );
            }
        }
    }

    #[test]
    fn no_duplicate_within_a_market() {
        for market in MARKETS {
            let mut seen = HashSet::new();
            for country in market.countries {
                assert!(seen.insert(country), "{country} twice in {}", market.name);
            }
        }
    }

    /// Not a requirement of the code, which handles overlaps, but if the
    /// source ever lists a country in two markets `market_of` can only return
    /// one of them, and reviewers should look at that change.
    #[test]
    fn source_lists_each_country_in_one_market() {
        let mut market_by_country = HashMap::new();
        for market in MARKETS {
            for country in market.countries {
                if let Some(earlier) = market_by_country.insert(country, market.name) {
                    panic!("{country} is in both {earlier} and {}", market.name);
                }
            }
        }
    }

    /// Row counts of the page's tables, so a dropped or doubled line in the
    /// transcription fails loudly. Latin America has 53 rows on the page but
    /// 51 codes, because Bonaire, Saba and Sint Eustatius share BQ.
    #[test]
    fn table_matches_the_source_page_row_counts() {
        let expected = [
            ("Africa", 47),
            ("Asia and Pacific", 18),
            ("Australia", 21),
            ("Brazil", 1),
            ("Canada", 2),
            ("China", 1),
            ("Europe", 45),
            ("India", 1),
            ("Japan", 1),
            ("Korea, Republic of", 1),
            ("Latin America and the Caribbean", 51),
            ("Middle East, Central Europe, and Eastern Europe", 44),
            ("New Zealand", 3),
            ("Taiwan", 1),
            ("United States", 5),
        ];
        let actual: Vec<_> = MARKETS
            .iter()
            .map(|market| (market.name, market.countries.len()))
            .collect();
        assert_eq!(actual, expected);
    }
}
