//! The `cidr` operator: whether a string value is an IP address inside a network.
//!
//! IPv4 (`10.0.0.0/24`) and IPv6 (`2001:db8::/32`) networks; host bits in the operand are
//! ignored (`10.0.0.7/24` is `10.0.0.0/24`). A value that is not an address of the same
//! family never matches. This file knows nothing of JSON or records.

use super::error::PatternProblem;
use std::net::IpAddr;

/// A compiled `cidr` operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cidr {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Self, PatternProblem> {
        let bad = |why: &str| PatternProblem::Cidr(format!("{s:?} {why}"));
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| bad("is not a network such as \"10.0.0.0/24\""))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad("does not start with an IPv4 or IPv6 address"))?;
        let len: u32 = len
            .parse()
            .map_err(|_| bad("has a prefix length that is not a number"))?;
        match addr {
            IpAddr::V4(a) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                Ok(Cidr::V4 {
                    net: u32::from(a) & mask,
                    mask,
                })
            }
            IpAddr::V6(a) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                Ok(Cidr::V6 {
                    net: u128::from(a) & mask,
                    mask,
                })
            }
            IpAddr::V4(_) => Err(bad("has a prefix length above 32")),
            IpAddr::V6(_) => Err(bad("has a prefix length above 128")),
        }
    }

    pub fn contains(&self, value: &str) -> bool {
        match (self, value.parse::<IpAddr>()) {
            (Cidr::V4 { net, mask }, Ok(IpAddr::V4(a))) => u32::from(a) & mask == *net,
            (Cidr::V6 { net, mask }, Ok(IpAddr::V6(a))) => u128::from(a) & mask == *net,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let c = Cidr::parse("10.0.0.0/24").unwrap();
        assert!(c.contains("10.0.0.0"));
        assert!(c.contains("10.0.0.255"));
        assert!(!c.contains("10.0.1.0"));
        assert!(!c.contains("::1"));
        assert!(!c.contains("not an ip"));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8"));
        assert!(Cidr::parse("10.0.0.7/32").unwrap().contains("10.0.0.7"));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8::1"));
        assert!(!v6.contains("2001:db9::1"));
        assert!(Cidr::parse("::/0").unwrap().contains("fe80::1"));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "::/129",
            "x/8",
            "10.0.0.0/a",
            "10.0.0.0/-1",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
