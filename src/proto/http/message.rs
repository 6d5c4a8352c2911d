//! HTTP message facts: the parts of a request or response that sessions are
//! made of, read from httparse's header list. Pure functions over bytes;
//! every size is bounded.

use base64::Engine;
use std::fmt;

/// Most cookies kept from one Cookie header, Set-Cookie headers kept from
/// one response, and URL parameters kept from one target.
pub const MAX_COOKIES: usize = 64;
pub const MAX_URL_PARAMS: usize = 32;

/// An Authorization identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Basic base64(user:password)`: the user name (the password is never
    /// kept).
    Basic { user: String },
    /// `Bearer <token>`: the token, fingerprinted before it is reported.
    Bearer { token: String },
    /// Another scheme (Digest `username` is taken when present).
    Other {
        scheme: String,
        user: Option<String>,
    },
}

/// One Set-Cookie header (RFC 6265 section 5.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// Lower case, without a leading dot.
    pub domain: Option<String>,
    pub path: Option<String>,
    /// Seconds since the epoch.
    pub expires: Option<i64>,
    pub max_age: Option<i64>,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: Option<String>,
}

impl SetCookie {
    /// Whether this header removes the cookie at `now` (seconds since the
    /// epoch): Max-Age of zero or less, or an Expires in the past.
    pub fn deletes(&self, now: i64) -> bool {
        match self.max_age {
            Some(age) => age <= 0,
            None => self.expires.is_some_and(|e| e <= now),
        }
    }

    /// Whether the browser keeps it beyond the browser session.
    pub fn is_persistent(&self) -> bool {
        self.max_age.is_some() || self.expires.is_some()
    }
}

impl fmt::Display for SetCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=…", self.name)
    }
}

/// Splits a Cookie header value into (name, value) pairs.
pub fn parse_cookie_header(value: &str, out: &mut Vec<(String, String)>) {
    for pair in value.split(';') {
        if out.len() >= MAX_COOKIES {
            return;
        }
        let pair = pair.trim();
        let (name, val) = pair.split_once('=').unwrap_or((pair, ""));
        let name = name.trim();
        if !name.is_empty() {
            out.push((name.to_owned(), unquote(val.trim()).to_owned()));
        }
    }
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// Parses one Set-Cookie header value; `None` without a name.
pub fn parse_set_cookie(value: &str) -> Option<SetCookie> {
    let mut parts = value.split(';');
    let first = parts.next()?.trim();
    let (name, val) = first.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let mut c = SetCookie {
        name: name.to_owned(),
        value: unquote(val.trim()).to_owned(),
        ..Default::default()
    };
    for attr in parts {
        let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "domain" if !v.is_empty() => {
                c.domain = Some(v.trim_start_matches('.').to_ascii_lowercase());
            }
            "path" => c.path = Some(v.to_owned()),
            "expires" => c.expires = parse_cookie_date(v),
            "max-age" => c.max_age = v.parse::<i64>().ok(),
            "secure" => c.secure = true,
            "httponly" => c.http_only = true,
            "samesite" => c.same_site = Some(v.to_owned()),
            _ => {}
        }
    }
    Some(c)
}

/// The cookie date algorithm of RFC 6265 section 5.1.1, which accepts the
/// many formats servers send (`Wed, 21 Oct 2015 07:28:00 GMT`,
/// `Wednesday, 21-Oct-15 07:28:00 GMT`, `Wed Oct 21 07:28:00 2015`).
/// Returns seconds since the epoch.
pub fn parse_cookie_date(s: &str) -> Option<i64> {
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    for token in s
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
    {
        if time.is_none() {
            let hms: Vec<&str> = token.split(':').collect();
            if hms.len() == 3 {
                if let (Ok(h), Ok(m), Ok(sec)) = (
                    hms[0].parse::<i64>(),
                    hms[1].parse::<i64>(),
                    hms[2].parse::<i64>(),
                ) {
                    time = Some((h, m, sec));
                    continue;
                }
            }
        }
        let digits = token.bytes().take_while(u8::is_ascii_digit).count();
        if day.is_none() && (1..=2).contains(&digits) && digits == token.len() {
            day = token.parse::<i64>().ok();
            continue;
        }
        if month.is_none() && token.len() >= 3 {
            const MONTHS: [&str; 12] = [
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ];
            let prefix = token[..3].to_ascii_lowercase();
            if let Some(i) = MONTHS.iter().position(|m| *m == prefix) {
                month = Some(i as i64 + 1);
                continue;
            }
        }
        if year.is_none() && (2..=4).contains(&digits) && digits == token.len() {
            year = token.parse::<i64>().ok();
        }
    }
    let (h, mi, sec) = time?;
    let (d, mo, mut y) = (day?, month?, year?);
    if (70..=99).contains(&y) {
        y += 1900;
    } else if (0..=69).contains(&y) {
        y += 2000;
    }
    if !(1..=31).contains(&d) || y < 1601 || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec)
}

/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The identity in an Authorization header.
pub fn parse_authorization(value: &str) -> Option<Auth> {
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let rest = rest.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            let text = crate::proto::text::lossless(&decoded);
            let user = text.split_once(':').map_or(&*text, |(u, _)| u);
            Some(Auth::Basic {
                user: user.to_owned(),
            })
        }
        "bearer" if !rest.is_empty() => Some(Auth::Bearer {
            token: rest.to_owned(),
        }),
        "" => None,
        other => {
            // Digest: username="alice", ...
            let user = rest.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim().eq_ignore_ascii_case("username")).then(|| unquote(v.trim()).to_owned())
            });
            Some(Auth::Other {
                scheme: other.to_owned(),
                user,
            })
        }
    }
}

/// Path parameters (`/app;jsessionid=ABC/x`) and query parameters
/// (`?sid=1&x=2`) of a request target, as (name, value).
pub fn url_params(target: &str, out: &mut Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = path.split('#').next().unwrap_or("");
    for segment in path.split('/') {
        for param in segment.split(';').skip(1) {
            push_param(param, out);
        }
    }
    let query = query.split('#').next().unwrap_or("");
    for param in query.split('&') {
        push_param(param, out);
    }
}

fn push_param(param: &str, out: &mut Vec<(String, String)>) {
    if out.len() >= MAX_URL_PARAMS {
        return;
    }
    if let Some((k, v)) = param.split_once('=') {
        if !k.is_empty() && !v.is_empty() {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_header_pairs() {
        let mut out = Vec::new();
        parse_cookie_header("PHPSESSID=abc123; lang=en;theme=\"dark\"; flag", &mut out);
        assert_eq!(
            out,
            [
                ("PHPSESSID".into(), "abc123".into()),
                ("lang".into(), "en".into()),
                ("theme".into(), "dark".into()),
                ("flag".into(), "".into())
            ]
        );
    }

    #[test]
    fn set_cookie_attributes() {
        let c = parse_set_cookie(
            "sid=XyZ; Domain=.Example.COM; Path=/; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; HttpOnly; SameSite=Lax",
        )
        .unwrap();
        assert_eq!(c.name, "sid");
        assert_eq!(c.value, "XyZ");
        assert_eq!(c.domain.as_deref(), Some("example.com"));
        assert_eq!(c.path.as_deref(), Some("/"));
        assert_eq!(c.expires, Some(1_445_412_480));
        assert!(c.secure && c.http_only);
        assert_eq!(c.same_site.as_deref(), Some("Lax"));
        assert!(c.deletes(1_500_000_000));
        assert!(!c.deletes(1_400_000_000));
        let gone = parse_set_cookie("PHPSESSID=deleted; Max-Age=0; path=/").unwrap();
        assert!(gone.deletes(0) && gone.is_persistent());
        let session = parse_set_cookie("PHPSESSID=x; path=/").unwrap();
        assert!(!session.is_persistent() && !session.deletes(i64::MAX));
        assert!(parse_set_cookie("=x").is_none());
        assert!(parse_set_cookie("novalue").is_none());
    }

    #[test]
    fn cookie_dates_in_the_formats_servers_send() {
        let want = Some(1_445_412_480);
        assert_eq!(parse_cookie_date("Wed, 21 Oct 2015 07:28:00 GMT"), want);
        assert_eq!(parse_cookie_date("Wednesday, 21-Oct-15 07:28:00 GMT"), want);
        assert_eq!(parse_cookie_date("Wed Oct 21 07:28:00 2015"), want);
        assert_eq!(parse_cookie_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_cookie_date("garbage"), None);
        assert_eq!(parse_cookie_date("Wed, 32 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn authorization_identities() {
        // "alice:secret"
        assert_eq!(
            parse_authorization("Basic YWxpY2U6c2VjcmV0"),
            Some(Auth::Basic {
                user: "alice".into()
            })
        );
        assert_eq!(
            parse_authorization("Bearer eyJhbGciOi.x.y"),
            Some(Auth::Bearer {
                token: "eyJhbGciOi.x.y".into()
            })
        );
        assert_eq!(
            parse_authorization(r#"Digest username="bob", realm="r""#),
            Some(Auth::Other {
                scheme: "digest".into(),
                user: Some("bob".into())
            })
        );
        assert_eq!(parse_authorization("Basic !!!"), None);
    }

    #[test]
    fn url_session_parameters() {
        let mut out = Vec::new();
        url_params(
            "/app;jsessionid=ABC123/home;x=1?sid=77&q=&z=2#frag",
            &mut out,
        );
        assert_eq!(
            out,
            [
                ("jsessionid".into(), "ABC123".into()),
                ("x".into(), "1".into()),
                ("sid".into(), "77".into()),
                ("z".into(), "2".into())
            ]
        );
    }
}
