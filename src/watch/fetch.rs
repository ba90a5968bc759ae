//! HTTP side of feed polling: conditional GET, redirects followed by hand, a body cap, and
//! refusal of private addresses unless the source allows them. gzip and deflate bodies are
//! decompressed here (`inflate`), not by reqwest, which refuses raw deflate and bodies
//! labelled compressed that are not; brotli is left to reqwest.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{self, HeaderMap};
use reqwest::{StatusCode, Url};

use super::inflate::{self, InflateError};

pub const USER_AGENT: &str = concat!(
    "relais/",
    env!("CARGO_PKG_VERSION"),
    " (veille d'Occitanie Coopération; +https://www.oc-cooperation.org)"
);

const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
    application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5";

/// Sent by hand: reqwest would only offer the encodings it decodes itself (brotli).
const ACCEPT_ENCODING: &str = "gzip, deflate, br";

const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("adresse refusée : {0} est une adresse privée ou locale (allow_private = true dans la source de sources.toml pour l'autoriser)")]
    PrivateAddress(String),
    #[error("trop de redirections (plus de {MAX_REDIRECTS})")]
    TooManyRedirects,
    #[error("redirection sans adresse valide")]
    BadRedirect,
    #[error("adresse sans nom d'hôte")]
    BadUrl,
    #[error("le serveur a répondu {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("réponse trop volumineuse (plus de {0} octets)")]
    TooLarge(usize),
    #[error("réponse vide : ce n'est pas un flux")]
    Empty,
    #[error("réponse compressée illisible ({0})")]
    BadEncoding(String),
    #[error("erreur réseau : {0}")]
    Network(String),
}

impl FetchError {
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Validators remembered from the last successful fetch.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub enum Fetched {
    NotModified {
        validators: Validators,
        hint: Option<Duration>,
    },
    Body(Box<Body>),
}

#[derive(Debug)]
pub struct Body {
    pub bytes: Vec<u8>,
    pub final_url: Url,
    pub content_type: Option<String>,
    pub validators: Validators,
    /// Where the source lives now, when every hop was a permanent redirect.
    pub moved_to: Option<Url>,
    pub cache_hint: Option<Duration>,
}

/// Two HTTP clients that differ in one thing: whether names may resolve to private addresses.
/// Proxies from the environment (`HTTP_PROXY` and the like) are never used: a proxy resolves
/// names itself, out of reach of the resolver's check, so only a configured one is used.
#[derive(Clone)]
pub struct Fetcher {
    public: reqwest::Client,
    private: reqwest::Client,
    max_body: usize,
    proxied: bool,
}

impl Fetcher {
    pub fn new(max_body: usize, proxy: Option<&Url>) -> anyhow::Result<Self> {
        let build = |allow_private: bool| -> anyhow::Result<reqwest::Client> {
            let builder = reqwest::Client::builder()
                .user_agent(USER_AGENT)
                // gzip and deflate are decoded by `inflate` (reqwest is built without them).
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(30))
                // A server that stops sending mid-body is given up on before the total limit.
                .read_timeout(Duration::from_secs(10));
            let builder = match proxy {
                // The resolver would only see the proxy's own name, which the operator chose;
                // destinations are checked by `check_destination` before each request.
                Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy.as_str())?),
                None => builder
                    .no_proxy()
                    .dns_resolver(Arc::new(PublicResolver { allow_private })),
            };
            Ok(builder.build()?)
        };
        Ok(Self {
            public: build(false)?,
            private: build(true)?,
            max_body,
            proxied: proxy.is_some(),
        })
    }

    pub async fn fetch(
        &self,
        url: &Url,
        validators: &Validators,
        allow_private: bool,
    ) -> Result<Fetched, FetchError> {
        let client = if allow_private {
            &self.private
        } else {
            &self.public
        };
        let mut current = url.clone();
        let mut all_permanent = true;
        for _ in 0..=MAX_REDIRECTS {
            if !allow_private {
                check_destination(&current, self.proxied).await?;
            }
            let mut request = client
                .get(current.clone())
                .header(header::ACCEPT, ACCEPT)
                .header(header::ACCEPT_ENCODING, ACCEPT_ENCODING);
            if let Some(etag) = &validators.etag {
                request = request.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &validators.last_modified {
                request = request.header(header::IF_MODIFIED_SINCE, lm);
            }
            let response = request.send().await.map_err(network_error)?;
            let status = response.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                all_permanent &= matches!(
                    status,
                    StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
                );
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| current.join(l).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or(FetchError::BadRedirect)?;
                current = location;
                continue;
            }
            let headers = response.headers().clone();
            let new_validators = Validators {
                etag: header_text(&headers, header::ETAG).or_else(|| validators.etag.clone()),
                last_modified: header_text(&headers, header::LAST_MODIFIED)
                    .or_else(|| validators.last_modified.clone()),
            };
            if status == StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified {
                    validators: new_validators,
                    hint: cache_lifetime(&headers),
                });
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    status: status.as_u16(),
                    retry_after: retry_after(&headers),
                });
            }
            let bytes = read_capped(response, self.max_body).await?;
            let bytes = decompress(
                bytes,
                header_text(&headers, header::CONTENT_ENCODING),
                self.max_body,
            )
            .await?;
            if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                return Err(FetchError::Empty);
            }
            let moved_to = (all_permanent && current != *url).then(|| current.clone());
            return Ok(Fetched::Body(Box::new(Body {
                bytes,
                final_url: current,
                content_type: header_text(&headers, header::CONTENT_TYPE),
                validators: new_validators,
                moved_to,
                cache_hint: cache_lifetime(&headers),
            })));
        }
        Err(FetchError::TooManyRedirects)
    }
}

/// Reads the body as sent (brotli already decoded by reqwest), stopping as soon as it passes
/// the cap.
async fn read_capped(response: reqwest::Response, cap: usize) -> Result<Vec<u8>, FetchError> {
    if response.content_length().is_some_and(|n| n as usize > cap) {
        return Err(FetchError::TooLarge(cap));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(network_error)?;
        if body.len() + chunk.len() > cap {
            return Err(FetchError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// gzip and deflate bodies decoded off the async workers, under the same cap as the body.
async fn decompress(
    bytes: Vec<u8>,
    encoding: Option<String>,
    cap: usize,
) -> Result<Vec<u8>, FetchError> {
    let label = encoding.clone().unwrap_or_default();
    let job =
        tokio::task::spawn_blocking(move || inflate::decode_body(bytes, encoding.as_deref(), cap));
    match job.await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(InflateError::TooLarge(cap))) => Err(FetchError::TooLarge(cap)),
        Ok(Err(InflateError::Corrupt)) => Err(FetchError::BadEncoding(label)),
        Err(e) => Err(FetchError::Network(format!(
            "décompression impossible : {e}"
        ))),
    }
}

fn network_error(e: reqwest::Error) -> FetchError {
    // The resolver's refusal travels inside reqwest's error chain; surface it as itself.
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return FetchError::PrivateAddress(refused.0.clone());
        }
        source = err.source();
    }
    let what = if e.is_timeout() {
        "délai dépassé".to_string()
    } else if e.is_connect() {
        "connexion impossible".to_string()
    } else {
        e.without_url().to_string()
    };
    FetchError::Network(what)
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

/// How long the server says the response stays fresh: the longer of Cache-Control max-age
/// and Expires.
fn cache_lifetime(headers: &HeaderMap) -> Option<Duration> {
    max_age(headers).max(expires(headers))
}

fn expires(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::EXPIRES)?.to_str().ok()?.trim();
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let cc = headers.get(header::CACHE_CONTROL)?.to_str().ok()?;
    cc.split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// IPv4 ranges that are not the public Internet, as (network, prefix length).
const REFUSED_V4: [(Ipv4Addr, u32); 15] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),          // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),         // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),      // shared address space (carrier-grade NAT)
    (Ipv4Addr::new(127, 0, 0, 0), 8),        // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),     // link local
    (Ipv4Addr::new(172, 16, 0, 0), 12),      // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),       // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),       // documentation (TEST-NET-1)
    (Ipv4Addr::new(192, 168, 0, 0), 16),     // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),      // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24),    // documentation (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24),     // documentation (TEST-NET-3)
    (Ipv4Addr::new(224, 0, 0, 0), 4),        // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),        // reserved
    (Ipv4Addr::new(255, 255, 255, 255), 32), // limited broadcast (inside 240/4)
];

/// IPv6 ranges that are not the public Internet, as (network, prefix length). Addresses that
/// carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address too.
const REFUSED_V6: [(Ipv6Addr, u32); 10] = [
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local-use NAT64
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),     // discard only
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32),    // Teredo
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48),    // benchmarking
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),     // unique local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),    // link local
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),     // multicast
];

/// Prefixes whose addresses carry an IPv4 address in their last 32 bits.
const EMBEDDING_V6: [(Ipv6Addr, u32); 3] = [
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96), // IPv4-mapped
    (Ipv6Addr::UNSPECIFIED, 96),                      // IPv4-compatible (deprecated)
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96), // NAT64
];

/// True for every address that is not on the public Internet: loopback, private, shared,
/// link local, documentation, benchmarking, multicast, reserved and the like. IPv6 addresses
/// that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are refused when it is.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            REFUSED_V4.iter().any(|(net, len)| {
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                bits & mask == u32::from(*net)
            })
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let within = |net: &Ipv6Addr, len: u32| {
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                bits & mask == u128::from(*net)
            };
            if REFUSED_V6.iter().any(|(net, len)| within(net, *len)) {
                return true;
            }
            // The last 32 bits, or bits 16 to 48 for 6to4 (2002::/16).
            let embedded = if EMBEDDING_V6.iter().any(|(net, len)| within(net, *len)) {
                Some(bits as u32)
            } else if within(&Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
                Some((bits >> 80) as u32)
            } else {
                None
            };
            embedded.is_some_and(|v4| is_private(IpAddr::V4(Ipv4Addr::from(v4))))
        }
    }
}

/// Refuses a URL whose host is a private address or a name that resolves to one, before any
/// request is made. Directly, a name with at least one public address passes (the resolver
/// then connects only to those); through a proxy, which resolves the name again on its own,
/// any private address refuses the name.
async fn check_destination(url: &Url, proxied: bool) -> Result<(), FetchError> {
    let host = match url.host() {
        Some(url::Host::Ipv4(ip)) => return refuse_if_private(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => return refuse_if_private(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => name.to_string(),
        None => return Err(FetchError::BadUrl),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| FetchError::Network(format!("nom introuvable ({host}) : {e}")))?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(FetchError::Network(format!("nom introuvable ({host})")));
    }
    let refused = if proxied {
        addrs.iter().any(|ip| is_private(*ip))
    } else {
        addrs.iter().all(|ip| is_private(*ip))
    };
    if refused {
        return Err(FetchError::PrivateAddress(host));
    }
    Ok(())
}

fn refuse_if_private(ip: IpAddr) -> Result<(), FetchError> {
    if is_private(ip) {
        return Err(FetchError::PrivateAddress(ip.to_string()));
    }
    Ok(())
}

#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves only to private addresses", self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves names at connection time (so every redirect is checked too) and drops private
/// addresses unless the source allows them.
struct PublicResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (range, addresses just inside it, public addresses just outside it).
    const V4_CASES: &[(&str, &[&str], &[&str])] = &[
        ("0.0.0.0/8", &["0.0.0.0", "0.255.255.255"], &["1.0.0.0"]),
        (
            "10.0.0.0/8",
            &["10.0.0.0", "10.255.255.255"],
            &["9.255.255.255", "11.0.0.0"],
        ),
        (
            "100.64.0.0/10",
            &["100.64.0.0", "100.127.255.255"],
            &["100.63.255.255", "100.128.0.0"],
        ),
        (
            "127.0.0.0/8",
            &["127.0.0.1", "127.255.255.255"],
            &["126.255.255.255", "128.0.0.0"],
        ),
        (
            "169.254.0.0/16",
            &["169.254.0.0", "169.254.255.255"],
            &["169.253.255.255", "169.255.0.0"],
        ),
        (
            "172.16.0.0/12",
            &["172.16.0.0", "172.31.255.255"],
            &["172.15.255.255", "172.32.0.0"],
        ),
        (
            "192.0.0.0/24",
            &["192.0.0.0", "192.0.0.255"],
            &["191.255.255.255", "192.0.1.0"],
        ),
        (
            "192.0.2.0/24",
            &["192.0.2.0", "192.0.2.255"],
            &["192.0.1.255", "192.0.3.0"],
        ),
        (
            "192.168.0.0/16",
            &["192.168.0.0", "192.168.255.255"],
            &["192.167.255.255", "192.169.0.0"],
        ),
        (
            "198.18.0.0/15",
            &["198.18.0.0", "198.19.255.255"],
            &["198.17.255.255", "198.20.0.0"],
        ),
        (
            "198.51.100.0/24",
            &["198.51.100.0", "198.51.100.255"],
            &["198.51.99.255", "198.51.101.0"],
        ),
        (
            "203.0.113.0/24",
            &["203.0.113.0", "203.0.113.255"],
            &["203.0.112.255", "203.0.114.0"],
        ),
        (
            "224.0.0.0/4",
            &["224.0.0.0", "239.255.255.255"],
            &["223.255.255.255"],
        ),
        (
            "240.0.0.0/4",
            &["240.0.0.0", "255.255.255.254", "255.255.255.255"],
            &["223.255.255.255"],
        ),
    ];

    /// The same for IPv6. Where a range's neighbours are themselves special or unallocated
    /// (around 100::/64 or fc00::/7, say), the nearest public address stands in for them.
    const V6_CASES: &[(&str, &[&str], &[&str])] = &[
        ("::/128", &["::"], &["2a00:1450:4007::1"]),
        ("::1/128", &["::1"], &["2a00:1450:4007::1"]),
        (
            "64:ff9b:1::/48",
            &["64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"],
            &["64:ff9b::5db8:d822"],
        ),
        (
            "100::/64",
            &["100::", "100::ffff:ffff:ffff:ffff"],
            &["2a00:1450:4007::1"],
        ),
        (
            "2001::/32",
            &["2001::", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff"],
            &["2001:200::1"],
        ),
        (
            "2001:2::/48",
            &["2001:2::", "2001:2:0:ffff:ffff:ffff:ffff:ffff"],
            &["2001:200::1"],
        ),
        (
            "2001:db8::/32",
            &["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
            &["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"],
        ),
        (
            "fc00::/7",
            &["fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
            &["2a00:1450:4007::1"],
        ),
        (
            "fe80::/10",
            &["fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
            &["2a00:1450:4007::1"],
        ),
        (
            "ff00::/8",
            &[
                "ff00::",
                "ff02::1",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            ],
            &["2a00:1450:4007::1"],
        ),
        (
            "2002::/16 (6to4)",
            &["2002:a00:1::", "2002:7f00:1::1"],
            &["2002:5db8:d822::1", "2003::1"],
        ),
    ];

    /// The IPv6 forms that carry `v4`: mapped, compatible, NAT64 and 6to4.
    fn carriers(v4: Ipv4Addr) -> [IpAddr; 4] {
        let [a, b, c, d] = v4.octets();
        let (high, low) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
        [
            IpAddr::V6(v4.to_ipv6_mapped()),
            IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, high, low)),
            IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, high, low)),
            IpAddr::V6(Ipv6Addr::new(0x2002, high, low, 0, 0, 0, 0, 1)),
        ]
    }

    #[test]
    fn every_private_range_is_refused_and_its_public_neighbours_are_not() {
        for (range, inside, outside) in V4_CASES.iter().chain(V6_CASES) {
            for ip in *inside {
                assert!(is_private(ip.parse().unwrap()), "{ip} is in {range}");
            }
            for ip in *outside {
                assert!(!is_private(ip.parse().unwrap()), "{ip} is outside {range}");
            }
        }
    }

    #[test]
    fn ipv6_addresses_carrying_an_ipv4_address_are_judged_by_it() {
        for (range, inside, outside) in V4_CASES {
            for ip in *inside {
                for carrier in carriers(ip.parse().unwrap()) {
                    assert!(is_private(carrier), "{carrier} carries {ip}, in {range}");
                }
            }
            for ip in *outside {
                for carrier in carriers(ip.parse().unwrap()) {
                    assert!(!is_private(carrier), "{carrier} carries public {ip}");
                }
            }
        }
        for ip in ["::ffff:127.0.0.1", "::10.0.0.1", "64:ff9b::192.168.1.1"] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "::ffff:93.184.216.34",
            "::93.184.216.34",
            "64:ff9b::93.184.216.34",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn cache_headers_are_read() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CACHE_CONTROL,
            "public, max-age=600".parse().unwrap(),
        );
        h.insert(header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::from_secs(600)));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(120)));
        let later = chrono::Utc::now() + chrono::Duration::hours(2);
        h.insert(header::EXPIRES, later.to_rfc2822().parse().unwrap());
        let lifetime = cache_lifetime(&h).unwrap().as_secs();
        assert!((7100..=7200).contains(&lifetime), "{lifetime}");
        h.insert(header::EXPIRES, "0".parse().unwrap());
        assert_eq!(cache_lifetime(&h), Some(Duration::from_secs(600)));
    }
}
