//! The addresses FTP advertises for data connections, in every form real
//! servers and clients write them. Each parser returns the address and port
//! or says why the argument is malformed (an octet over 255, a port out of
//! range, missing fields): a malformed argument is recorded, never trusted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An advertised endpoint: EPSV gives only a port (the address is the
/// control connection's server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advertised {
    pub addr: Option<IpAddr>,
    pub port: u16,
}

type Parsed = Result<Advertised, &'static str>;

/// Six decimal numbers `h1,h2,h3,h4,p1,p2` found anywhere in `text` (227
/// replies write them with or without parentheses, with text or a trailing
/// dot around them; PORT writes them bare).
pub fn host_port_numbers(text: &str) -> Parsed {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()) {
            if let Some(nums) = numbers_at(&text[i..], 6) {
                return six_to_endpoint(&nums);
            }
        }
        i += 1;
    }
    Err("no h1,h2,h3,h4,p1,p2 numbers")
}

/// `n` comma-separated decimal numbers at the start of `s`.
fn numbers_at(s: &str, n: usize) -> Option<Vec<u32>> {
    let mut out = Vec::with_capacity(n);
    for part in s.splitn(n, ',') {
        let digits: String = part
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if digits.is_empty() || digits.len() > 5 {
            return None;
        }
        out.push(digits.parse().ok()?);
    }
    (out.len() == n).then_some(out)
}

fn six_to_endpoint(n: &[u32]) -> Parsed {
    if n.iter().any(|x| *x > 255) {
        return Err("a number over 255");
    }
    let ip = Ipv4Addr::new(n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8);
    let port = n[4] * 256 + n[5];
    if port == 0 {
        return Err("port 0");
    }
    Ok(Advertised {
        addr: Some(IpAddr::V4(ip)),
        port: port as u16,
    })
}

/// The `(|||port|)` of a 229 reply (RFC 2428 section 3): the delimiter is
/// the character after the parenthesis.
pub fn epsv_reply(text: &str) -> Parsed {
    let open = text.find('(').ok_or("no parenthesis")?;
    let inner = &text[open + 1..];
    let close = inner.find(')').ok_or("no closing parenthesis")?;
    let inner = &inner[..close];
    let d = inner.chars().next().ok_or("empty")?;
    let parts: Vec<&str> = inner.split(d).collect();
    // "", "", "", port, ""
    if parts.len() != 5 {
        return Err("not (|||port|)");
    }
    let port: u32 = parts[3].parse().map_err(|_| "port is not a number")?;
    if port == 0 || port > 65_535 {
        return Err("port out of range");
    }
    Ok(Advertised {
        addr: None,
        port: port as u16,
    })
}

/// EPRT `|1|132.235.1.2|6275|` or `|2|::1|6275|` (RFC 2428 section 2).
pub fn eprt_argument(arg: &str) -> Parsed {
    let arg = arg.trim();
    let d = arg.chars().next().ok_or("empty")?;
    let parts: Vec<&str> = arg.split(d).collect();
    if parts.len() != 5 {
        return Err("not |proto|address|port|");
    }
    let addr: IpAddr = match parts[1] {
        "1" => IpAddr::V4(
            parts[2]
                .parse::<Ipv4Addr>()
                .map_err(|_| "bad IPv4 address")?,
        ),
        "2" => IpAddr::V6(
            parts[2]
                .parse::<Ipv6Addr>()
                .map_err(|_| "bad IPv6 address")?,
        ),
        _ => return Err("unknown address family"),
    };
    let port: u32 = parts[3].parse().map_err(|_| "port is not a number")?;
    if port == 0 || port > 65_535 {
        return Err("port out of range");
    }
    Ok(Advertised {
        addr: Some(addr),
        port: port as u16,
    })
}

/// LPRT / 228 `af,hal,h1,…,hN,pal,p1,p2` (RFC 1639): af 4 with 4 address
/// bytes, or 6 with 16.
pub fn long_host_port(text: &str) -> Parsed {
    let start = text
        .char_indices()
        .find(|(_, c)| c.is_ascii_digit())
        .map(|(i, _)| i)
        .ok_or("no numbers")?;
    let nums: Vec<u32> = text[start..]
        .split(',')
        .map(|p| {
            p.trim()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u32>()
        })
        .take_while(Result::is_ok)
        .map(|r| r.unwrap_or(0))
        .collect();
    let (af, hal) = (*nums.first().ok_or("empty")?, *nums.get(1).ok_or("short")?);
    let addr_len = match (af, hal) {
        (4, 4) => 4,
        (6, 16) => 16,
        _ => return Err("unknown address family or length"),
    };
    let rest = nums.get(2..).ok_or("short")?;
    if rest.len() < addr_len + 3 || rest.iter().any(|x| *x > 255) {
        return Err("missing or out-of-range numbers");
    }
    let addr_bytes: Vec<u8> = rest[..addr_len].iter().map(|x| *x as u8).collect();
    if rest[addr_len] != 2 {
        return Err("port length is not 2");
    }
    let port = rest[addr_len + 1] * 256 + rest[addr_len + 2];
    if port == 0 {
        return Err("port 0");
    }
    let addr = if addr_len == 4 {
        IpAddr::V4(Ipv4Addr::new(
            addr_bytes[0],
            addr_bytes[1],
            addr_bytes[2],
            addr_bytes[3],
        ))
    } else {
        let mut a = [0u8; 16];
        a.copy_from_slice(&addr_bytes);
        IpAddr::V6(Ipv6Addr::from(a))
    };
    Ok(Advertised {
        addr: Some(addr),
        port: port as u16,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: &str, port: u16) -> Parsed {
        Ok(Advertised {
            addr: Some(a.parse().unwrap()),
            port,
        })
    }

    #[test]
    fn pasv_replies_in_every_format() {
        for text in [
            "Entering Passive Mode (199,233,217,249,221,90).",
            "Entering Passive Mode (199,233,217,249,221,90)",
            "Entering Passive Mode 199,233,217,249,221,90",
            "=199,233,217,249,221,90",
            "Passive mode OK (199, 233, 217, 249, 221, 90)",
        ] {
            assert_eq!(
                host_port_numbers(text),
                v4("199.233.217.249", 56666),
                "{text}"
            );
        }
        assert_eq!(
            host_port_numbers("Entering Passive Mode (300,1,1,1,4,1)"),
            Err("a number over 255")
        );
        assert!(host_port_numbers("Entering Passive Mode (1,2,3,4)").is_err());
        assert_eq!(host_port_numbers("10,0,0,1,0,0"), Err("port 0"));
    }

    #[test]
    fn port_command() {
        assert_eq!(
            host_port_numbers("141,142,220,235,131,126"),
            v4("141.142.220.235", 33662)
        );
    }

    #[test]
    fn epsv_reply_forms() {
        let p = |port| Ok(Advertised { addr: None, port });
        assert_eq!(
            epsv_reply("Entering Extended Passive Mode (|||6446|)"),
            p(6446)
        );
        assert_eq!(
            epsv_reply("Entering extended passive mode (!!!6446!)."),
            p(6446)
        );
        assert_eq!(
            epsv_reply("Entering Extended Passive Mode (|||70000|)"),
            Err("port out of range")
        );
        assert!(epsv_reply("Entering Extended Passive Mode").is_err());
    }

    #[test]
    fn eprt_arguments() {
        assert_eq!(
            eprt_argument("|1|132.235.1.2|6275|"),
            v4("132.235.1.2", 6275)
        );
        assert_eq!(
            eprt_argument("|2|2001:470:1f11:81f:c999:d94:aa7c:2e3e|49190|"),
            v4("2001:470:1f11:81f:c999:d94:aa7c:2e3e", 49190)
        );
        assert_eq!(eprt_argument("!1!10.0.0.1!21!"), v4("10.0.0.1", 21));
        assert_eq!(eprt_argument("|1|999.1.1.1|21|"), Err("bad IPv4 address"));
        assert_eq!(eprt_argument("|3|x|21|"), Err("unknown address family"));
        assert_eq!(eprt_argument("|1|10.0.0.1|0|"), Err("port out of range"));
    }

    #[test]
    fn long_forms() {
        assert_eq!(long_host_port("4,4,10,0,0,1,2,4,1"), v4("10.0.0.1", 1025));
        assert_eq!(
            long_host_port(
                "Entering Long Passive Mode (6,16,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,2,4,1)"
            ),
            v4("::1", 1025)
        );
        assert!(long_host_port("4,4,10,0,0,1,3,4,1,1").is_err());
        assert!(long_host_port("4,4,10,0,0").is_err());
    }
}
