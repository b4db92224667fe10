//! The TUN device (`mesh0`): layer-3 packets between the kernel and meshd's userspace forwarding.
//!
//! Opened with `IFF_TUN | IFF_NO_PI`, so every read returns exactly one bare IPv4 or IPv6 packet
//! and every write injects one. The descriptor is non-blocking and driven by tokio's `AsyncFd`;
//! `try_recv`/`try_send` let the forwarding loop drain or fill the queue in batches without awaiting.
//!
//! This file depends only on external crates (it is also compiled into `tests/kernel_netns.rs`).

// Creating a TUN device needs the TUNSETIFF ioctl, which no safe wrapper offers, and handing its
// descriptor to tokio's reactor is `unsafe` (`AsyncFd::register_with_interest`): these two calls
// and the netlink socket's registration (`kernel/socket.rs`) are the only `unsafe` in meshd.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// `struct ifreq` as TUNSETIFF reads it: the name, then a union whose only member used here is
/// `ifru_flags`. The padding makes it at least as large as the kernel's `struct ifreq` on every
/// target (40 bytes on 64-bit, 32 on 32-bit), since the kernel copies the whole struct in and out.
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// An open TUN device. Closing it (drop) removes the interface, with its addresses and routes.
#[derive(Debug)]
pub struct Tun {
    fd: AsyncFd<File>,
    name: String,
}

impl Tun {
    /// Creates (or attaches to) the TUN interface `name`. Needs CAP_NET_ADMIN and a tokio runtime
    /// with IO enabled.
    pub fn create(name: &str) -> io::Result<Tun> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid interface name {name:?} (1 to 15 bytes, no NUL)"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("opening /dev/net/tun: {e}")))?;

        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
            _pad: [0; 22],
        };
        for (dst, &src) in req.name.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        // SAFETY: `file` is an open descriptor of /dev/net/tun, which owns it for the whole call.
        // TUNSETIFF reads and writes one `struct ifreq` at the pointer; `req` is a live, exclusively
        // borrowed, `repr(C)` value laid out like `struct ifreq` (name, then the union starting with
        // the `short` flags) and at least as large, so the kernel never touches memory outside it.
        // The name is NUL-terminated because it is shorter than IFNAMSIZ and the array was zeroed.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("creating TUN device {name}: {e}"),
            ));
        }
        // The kernel writes back the name it used (the same one, as we pass no `%d` pattern).
        let len = req
            .name
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(req.name.len());
        let name: String = req.name[..len]
            .iter()
            .map(|&c| char::from(c as u8))
            .collect();
        // SAFETY: registration needs the descriptor `as_raw_fd` gives to stay open, and the
        // same, while the AsyncFd owns it. The AsyncFd owns the `File` (moved in; nothing else
        // holds this descriptor), `File::as_raw_fd` always returns the one it owns, and the
        // `File` closes it only when the AsyncFd is dropped.
        let fd = unsafe {
            AsyncFd::register_with_interest(file, Interest::READABLE | Interest::WRITABLE)
        }?;
        Ok(Tun { fd, name })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for one packet from the kernel and copies it into `buf`; returns its length. A packet
    /// longer than `buf` is truncated, so `buf` should hold the MTU.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| read_packet(fd.get_ref(), buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Reads one packet if one is queued; `WouldBlock` otherwise.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        read_packet(self.fd.get_ref(), buf)
    }

    /// Writes one packet if the device accepts it now; `WouldBlock` otherwise.
    pub fn try_send(&self, packet: &[u8]) -> io::Result<usize> {
        write_packet(self.fd.get_ref(), packet)
    }
}

/// One read on a TUN descriptor is one packet.
fn read_packet(mut file: &File, buf: &mut [u8]) -> io::Result<usize> {
    file.read(buf)
}

/// One write on a TUN descriptor is one packet.
fn write_packet(mut file: &File, packet: &[u8]) -> io::Result<usize> {
    file.write(packet)
}
