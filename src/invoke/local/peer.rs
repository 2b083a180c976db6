//! Who is on the other end of a Runtime API connection.
//!
//! The Runtime API listens on loopback, where any local process (another user's, a
//! browser's page through DNS rebinding) can connect. Were it served to all of them, one
//! could take an invocation with `next` and answer it with `response`, and the batch
//! would be committed though the handler never saw it. So each connection is admitted
//! only when the socket at its other end belongs to a process of the handler's process
//! group (the handler leads one: see [`super::spawn`]; its children, such as a runtime
//! started by a wrapper script, are members too). Everything else is refused before it
//! reaches an invocation.
//!
//! The check needs no cooperation from the runtime client. A secret in
//! `AWS_LAMBDA_RUNTIME_API` (`host:port/prefix`) was the other way, but the runtime
//! clients do not accept one: `lambda_runtime` (Rust) parses the variable as an
//! `http::Uri`, which refuses a path after an authority with no scheme, and awslambdaric
//! (Python) posts init errors through `http.client.HTTPConnection(address)`, which
//! refuses anything after the port.
//!
//! How (Linux): `/proc/net/tcp` and `/proc/net/tcp6` give the inode of the socket whose
//! local address is the connection's peer and whose remote address is the server's;
//! `/proc/PID/stat` gives each process's group, and `/proc/PID/fd` the sockets it holds.
//! Only processes of kafka-esm's own user can be looked into (the handler is one), so a
//! socket held by another user's process is never found. Elsewhere than on Linux every
//! connection is admitted (documented in the README).

use std::net::SocketAddr;

/// Whether the TCP connection from `peer` to `server` (both loopback, this host) is held
/// at the `peer` end by a process of process group `group`.
#[cfg(target_os = "linux")]
pub(super) fn held_by_group(peer: SocketAddr, server: SocketAddr, group: u32) -> bool {
    let Some(inode) = socket_inode(peer, server) else {
        return false;
    };
    let socket = format!("socket:[{inode}]");
    let holds = |pid: &str| {
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == &*socket)
            })
        })
    };
    // The leader first (the runtime client is usually the handler process itself).
    let leader = group.to_string();
    if holds(&leader) {
        return true;
    }
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return false;
    };
    processes.flatten().any(|entry| {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            return false;
        };
        pid != leader && process_group(pid) == Some(group) && holds(pid)
    })
}

#[cfg(not(target_os = "linux"))]
pub(super) fn held_by_group(_peer: SocketAddr, _server: SocketAddr, _group: u32) -> bool {
    true
}

/// The process group of process `pid`, from `/proc/PID/stat` (the fields after the
/// command name, which may itself hold spaces and parentheses: state, ppid, pgrp).
#[cfg(target_os = "linux")]
fn process_group(pid: &str) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// The inode of the TCP socket whose local address is `local` and remote is `remote`,
/// from `/proc/net/tcp` and `/proc/net/tcp6` (an IPv6 socket connected to an IPv4
/// address shows it v4-mapped). 0 (a socket in TIME_WAIT, held by no process) is none.
#[cfg(target_os = "linux")]
fn socket_inode(local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .into_iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|text| find_inode(&text, local, remote))
}

/// The inode in the `/proc/net/tcp`-format `table` row for `local` -> `remote`.
fn find_inode(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    table.lines().skip(1).find_map(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let (l, r, inode) = (fields.get(1)?, fields.get(2)?, fields.get(9)?);
        (parse_address(l)? == local && parse_address(r)? == remote)
            .then(|| inode.parse().ok())
            .flatten()
            .filter(|&inode| inode != 0)
    })
}

/// An address as `/proc/net/tcp` writes it: the IP as 32-bit words in hex, each in the
/// host's byte order, `:`, the port in hex. A v4-mapped IPv6 address becomes IPv4.
fn parse_address(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    if ip.len() != 8 && ip.len() != 32 {
        return None;
    }
    let mut bytes = Vec::with_capacity(16);
    for word in ip.as_bytes().chunks(8) {
        let word = u32::from_str_radix(std::str::from_utf8(word).ok()?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => std::net::IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => {
            let v6 = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?);
            v6.to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_addresses_are_read() {
        // Words in the host's byte order, as the kernel writes them.
        let v4 = format!("{:08X}:1F90", u32::from_ne_bytes([127, 0, 0, 1]));
        assert_eq!(parse_address(&v4), Some("127.0.0.1:8080".parse().unwrap()));
        let mapped: String = [0u32, 0, u32::from_ne_bytes([0, 0, 0xff, 0xff])]
            .iter()
            .chain(&[u32::from_ne_bytes([127, 0, 0, 1])])
            .map(|w| format!("{w:08X}"))
            .collect();
        assert_eq!(
            parse_address(&format!("{mapped}:0050")),
            Some("127.0.0.1:80".parse().unwrap())
        );
        let one: String = [0u32, 0, 0, u32::from_ne_bytes([0, 0, 0, 1])]
            .iter()
            .map(|w| format!("{w:08X}"))
            .collect();
        assert_eq!(
            parse_address(&format!("{one}:0050")),
            Some("[::1]:80".parse().unwrap())
        );
        for bad in ["", "0100007F", "0100007F:", "0100007G:0050", "01007F:0050"] {
            assert_eq!(parse_address(bad), None, "{bad}");
        }
        let table = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             \x20  0: {v4} {v4} 01 00000000:00000000 00:00000000 00000000  1000        0 0 1 0\n\
             \x20  1: {v4} {v4} 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0\n"
        );
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(find_inode(&table, a, a), Some(4242), "inode 0 is skipped");
        assert_eq!(find_inode(&table, a, "127.0.0.1:1".parse().unwrap()), None);
    }

    /// A connection this process makes is held by this process's group, and by no other.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_connection_is_held_by_its_process_group_only() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(server).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let own = process_group(&std::process::id().to_string()).unwrap();
        assert!(held_by_group(peer, server, own));
        assert!(!held_by_group(peer, server, own + 1_000_000));
        drop(client);
    }
}
