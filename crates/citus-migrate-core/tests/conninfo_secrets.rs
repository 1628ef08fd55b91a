//! Property test of the connection-string parser: whatever surrounds a password, and however it is
//! written (percent-encoded or not in a URI, quoted, escaped or not in a `key=value` string), no
//! message shows any 3-character piece of it: neither the error (`Display`, `Debug`) when parsing
//! fails, nor the parsed options (`Display`, `Debug`, `endpoint`, warnings) when it succeeds. Where
//! the password is written correctly, it must also parse to exactly that password.
//!
//! The cases come from a deterministic generator with a fixed seed. Every other character of a
//! password is a capital from `MARKERS`, which nothing else in a generated string (nor any message
//! text) contains, so every 3-character piece of a password holds one: a piece found in a message
//! was taken from the password, never a coincidence.

use citus_migrate_core::conninfo::{ConnInfo, Env};
use citus_migrate_core::Side;

const CASES: usize = 25_000;
const SEED: u64 = 0x5eed_0c22_ec70;

const MARKERS: &[char] = &['Q', 'J', 'X', 'Z', 'K', 'W'];
/// What goes between the markers: everything with a meaning in a URI or a `key=value` string.
const OTHERS: &[char] = &[
    '@', '/', '?', ':', '#', '=', '\'', '\\', ' ', '%', '&', ',', '[', ']', '"', '\t', ';', '+',
    '-', '.', 'a', 'z', '0', '4', '1', 'é',
];

/// No variables, no home directory: only what the string says counts.
struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
    fn home(&self) -> Option<std::path::PathBuf> {
        None
    }
    fn os_user(&self) -> Option<String> {
        Some("osuser".into())
    }
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

fn password(rng: &mut Rng) -> String {
    let len = 3 + rng.below(12);
    (0..len)
        .map(|i| match i % 2 {
            0 => rng.pick(MARKERS),
            _ => rng.pick(OTHERS),
        })
        .collect()
}

fn percent_encode(c: char) -> String {
    let mut buf = [0; 4];
    c.encode_utf8(&mut buf)
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect()
}

/// A password in a URI: every reserved character encoded (`exact`), or some or all left raw.
fn in_uri(rng: &mut Rng, pw: &str) -> (String, bool) {
    let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    match rng.below(4) {
        0 | 1 => (
            pw.chars()
                .map(|c| match unreserved(c) {
                    true => c.to_string(),
                    false => percent_encode(c),
                })
                .collect(),
            true,
        ),
        2 => (pw.to_string(), false),
        _ => (
            pw.chars()
                .map(|c| match rng.percent(50) {
                    true => c.to_string(),
                    false => percent_encode(c),
                })
                .collect(),
            false,
        ),
    }
}

/// A password as a `key=value` value: quoted or backslash-escaped as needed (`exact`), or quoted
/// without escaping, raw, or with its closing quote missing.
fn in_keyword_value(rng: &mut Rng, pw: &str) -> (String, bool) {
    let escaped = |special: &dyn Fn(char) -> bool| -> String {
        pw.chars()
            .flat_map(|c| match special(c) {
                true => vec!['\\', c],
                false => vec![c],
            })
            .collect()
    };
    match rng.below(5) {
        0 => (format!("'{}'", escaped(&|c| c == '\'' || c == '\\')), true),
        1 => (
            escaped(&|c| c.is_whitespace() || c == '\'' || c == '\\'),
            true,
        ),
        2 => (format!("'{pw}'"), false),
        3 => (pw.to_string(), false),
        _ => (format!("'{}", escaped(&|c| c == '\'' || c == '\\')), false),
    }
}

/// URI parameters: well-formed ones, and ones that are not.
const GOOD_PARAMS: &[&str] = &[
    "sslmode=disable",
    "connect_timeout=3",
    "application_name=app",
    "keepalives=0",
    "target_session_attrs=any",
    "ssl=true",
    "dbname=d%20b",
];
const BAD_PARAMS: &[&str] = &[
    "bogus=1",
    "port=abc",
    "x",
    "sslmode=never",
    "dbname=%zz",
    "=1",
];

/// `key=value` pairs: well-formed ones, and ones that are not.
const GOOD_PAIRS: &[&str] = &[
    "host=h",
    "port=5432",
    "dbname=db",
    "user=u",
    "sslmode=disable",
    "keepalives_idle=9",
    "application_name='my app'",
    "connect_timeout = 5",
    "options='-c x=1'",
];
const BAD_PAIRS: &[&str] = &["bogus=1", "port=x", "nonsense", "sslmode=never", "'", "a\\"];

/// Up to `most` items, mostly from `good`; `valid` stays true only if all are.
fn some_of(
    rng: &mut Rng,
    most: usize,
    (good, bad): (&[&'static str], &[&'static str]),
    valid: &mut bool,
) -> Vec<String> {
    (0..rng.below(most + 1))
        .map(|_| match rng.percent(85) {
            true => rng.pick(good).to_string(),
            false => {
                *valid = false;
                rng.pick(bad).to_string()
            }
        })
        .collect()
}

/// One connection string holding `pw`, and whether it is well-formed with `pw` written correctly.
fn connection_string(rng: &mut Rng, pw: &str) -> (String, String, bool) {
    let mut valid = true;
    let (written, input) = match rng.below(3) {
        // In the URI's user-info part.
        0 => {
            let scheme = match rng.below(10) {
                0 => "postgres:/",
                1 => "postgresql:",
                2 => "mysql://",
                3..=5 => "postgres://",
                _ => "postgresql://",
            };
            valid &= scheme.ends_with("://") && scheme != "mysql://";
            let (written, exact) = in_uri(rng, pw);
            valid &= exact;
            let user = rng.pick(&["app", "", "a%40b"]);
            let hosts = rng.pick(&["h", "h:5433", "h1,h2:6", "[::1]:5", "", "[::1]"]);
            let db = rng.pick(&["", "/", "/db", "/d%2Fb"]);
            let params = some_of(rng, 2, (GOOD_PARAMS, BAD_PARAMS), &mut valid);
            let query = match params.is_empty() {
                true => String::new(),
                false => format!("?{}", params.join("&")),
            };
            let input = format!("{scheme}{user}:{written}@{hosts}{db}{query}");
            (written, input)
        }
        // As a URI parameter.
        1 => {
            let (written, exact) = in_uri(rng, pw);
            valid &= exact;
            let user = rng.pick(&["", "app@"]);
            let hosts = rng.pick(&["h", "h:5433", ""]);
            let mut params = some_of(rng, 2, (GOOD_PARAMS, BAD_PARAMS), &mut valid);
            params.push(format!("password={written}"));
            params.extend(some_of(rng, 2, (GOOD_PARAMS, BAD_PARAMS), &mut valid));
            let path = rng.pick(&["/db", "/", ""]);
            let input = format!("postgresql://{user}{hosts}{path}?{}", params.join("&"));
            (written, input)
        }
        // As a key=value pair.
        _ => {
            let (written, exact) = in_keyword_value(rng, pw);
            valid &= exact;
            let equals = rng.pick(&["=", " = ", "= "]);
            let mut pairs = some_of(rng, 3, (GOOD_PAIRS, BAD_PAIRS), &mut valid);
            pairs.push(format!("password{equals}{written}"));
            pairs.extend(some_of(rng, 3, (GOOD_PAIRS, BAD_PAIRS), &mut valid));
            let sep = rng.pick(&[" ", "  ", "\t"]);
            (written, pairs.join(sep))
        }
    };
    let mut input = input;
    // Now and then a stray character anywhere, the password included.
    if rng.percent(15) {
        let at = input
            .char_indices()
            .map(|(i, _)| i)
            .nth(rng.below(input.chars().count()))
            .unwrap_or(0);
        input.insert(at, rng.pick(OTHERS));
        valid = false;
    }
    if rng.percent(10) {
        input.push_str(rng.pick(&[" ", "\n", "  \t"]));
    }
    (input, written, valid)
}

/// The 3-character pieces of `s` (by character) that hold a marker.
fn pieces(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars
        .windows(3)
        .filter(|w| w.iter().any(|c| MARKERS.contains(c)))
        .map(|w| w.iter().collect())
        .collect()
}

#[test]
fn no_message_shows_a_piece_of_the_password() {
    let mut rng = Rng(SEED);
    let (mut parsed, mut refused, mut exact) = (0, 0, 0);
    for case in 0..CASES {
        let pw = password(&mut rng);
        let (input, written, valid) = connection_string(&mut rng, &pw);
        let side = match rng.percent(50) {
            true => Side::Source,
            false => Side::Target,
        };
        let result = ConnInfo::parse_with_env(side, &input, &NoEnv);
        let texts = match &result {
            Ok(c) => {
                parsed += 1;
                vec![
                    c.to_string(),
                    format!("{c:?}"),
                    c.endpoint(),
                    c.warnings.join("\n"),
                ]
            }
            Err(e) => {
                refused += 1;
                let shown = e.to_string();
                assert!(
                    shown.starts_with(&format!("{side} connection string is invalid: ")),
                    "case {case}: {input:?}: {shown}"
                );
                assert!(e.is_usage(), "case {case}: {input:?}: {shown}");
                vec![shown, format!("{e:?}")]
            }
        };
        let mut secret = pieces(&pw);
        secret.extend(pieces(&written));
        assert!(!secret.is_empty());
        for text in &texts {
            for piece in &secret {
                assert!(
                    !text.contains(piece.as_str()),
                    "case {case}: {piece:?} of password {pw:?} shown for {input:?}: {text}"
                );
            }
        }
        if valid {
            let c = result.unwrap_or_else(|e| panic!("case {case}: {input:?}: {e}"));
            assert_eq!(
                c.password.as_deref(),
                Some(pw.as_str()),
                "case {case}: {input:?}"
            );
            exact += 1;
        }
    }
    // Both outcomes, and exact parses, were exercised in earnest.
    for (what, n) in [("parsed", parsed), ("refused", refused), ("exact", exact)] {
        assert!(n > CASES / 10, "only {n} of {CASES} cases {what}");
    }
    eprintln!("{CASES} cases: {parsed} parsed ({exact} checked exactly), {refused} refused");
}
