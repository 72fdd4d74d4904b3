//! Configuration: defaults, then `yufu.toml` (path from `--config`), then the
//! environment. The variable names are a public contract (see README.md).
//!
//! Every problem is reported as one line naming where the bad value came from
//! (the file and line, or the variable), so an operator can fix it at once.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// One configuration problem, ready to print as a single line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where the database lives. `Debug` and `Display` never show a password.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// The embedded default: one SQLite file.
    Sqlite(PathBuf),
    /// A `postgres://` URL, kept whole for the driver.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses a `YUFU_DATABASE_URL` value. `sqlite://PATH` or `sqlite:PATH`
    /// select SQLite; `postgres://…` or `postgresql://…` select PostgreSQL.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if let Some(path) = value
            .strip_prefix("sqlite://")
            .or_else(|| value.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or("");
            if path.is_empty() || path.starts_with(":memory:") {
                return Err("an SQLite URL needs a file path (sqlite://PATH); in-memory databases would lose every reading on exit".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if let Some(rest) = value
            .strip_prefix("postgres://")
            .or_else(|| value.strip_prefix("postgresql://"))
        {
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            if host.is_empty() || host.starts_with('/') || host.starts_with('?') {
                return Err(format!(
                    "'{}' has no host; use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
                    redact(value)
                ));
            }
            return Ok(Self::Postgres(value.to_owned()));
        }
        let scheme = value.split_once(':').map_or(value, |(s, _)| s);
        Err(format!(
            "unsupported database '{}'; use sqlite://PATH or postgres://USER@HOST/DATABASE",
            if scheme.is_empty() { "(empty)" } else { scheme }
        ))
    }
}

/// Hides the password of a URL's user-info: `postgres://u:***@h/db`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            Self::Postgres(u) => f.write_str(&redact(u)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub http_addr: SocketAddr,
    /// The embedded MQTT device endpoint's address.
    pub mqtt_addr: SocketAddr,
    /// Whether `mqtt_addr` was set (a default that is taken is replaced by
    /// a free port in `yufu demo`; a chosen one never is).
    pub mqtt_addr_set: bool,
    /// The DL/T 645 / CJ/T 188 TCP gateway's address.
    pub dlt645_addr: SocketAddr,
    pub dlt645_addr_set: bool,
    /// An external broker (`host:port`) to subscribe to; `None`: embedded only.
    pub mqtt_broker: Option<String>,
    pub mqtt_share_group: String,
    pub mqtt_client_id: Option<String>,
    pub mqtt_username: Option<String>,
    /// Never printed (`Debug` redacts it).
    pub mqtt_password: Option<Secret>,
    /// A meter silent this long is offline (`comm_fault` alarm).
    pub offline_after: std::time::Duration,
    /// How often DL/T 645 / CJ/T 188 meters are polled.
    pub poll_interval: std::time::Duration,
    pub poll_timeout: std::time::Duration,
    pub poll_concurrency: usize,
    /// How long a command waits for the meter's answer.
    pub command_timeout: std::time::Duration,
    /// A tracing filter, e.g. `info,yufu_server=debug`.
    pub log: String,
    /// The key file for personal data (`ID:BASE64` lines, the last active).
    pub data_key_file: Option<PathBuf>,
    /// Key-file text given directly (for containers); never printed.
    pub data_key: Option<Secret>,
    pub session_idle: std::time::Duration,
    pub session_max: std::time::Duration,
    /// Whether the session cookie is marked Secure (default true; the
    /// demo turns it off because it serves plain HTTP on loopback).
    pub cookie_secure: Option<bool>,
    /// Online payment providers: `name=secret` pairs separated by commas.
    pub payment_providers: Vec<(String, Secret)>,
    /// The built-in payment provider simulator (`paysim`), for demos only:
    /// anyone can "pay" with it. `None`: on in `yufu demo`, off otherwise.
    pub payment_simulator: Option<bool>,
}

/// The keys `yufu.toml` may hold; anything else is an error.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    http_addr: Option<String>,
    mqtt_addr: Option<String>,
    dlt645_addr: Option<String>,
    mqtt_broker: Option<String>,
    mqtt_share_group: Option<String>,
    mqtt_client_id: Option<String>,
    mqtt_username: Option<String>,
    mqtt_password: Option<String>,
    offline_after: Option<String>,
    poll_interval: Option<String>,
    poll_timeout: Option<String>,
    poll_concurrency: Option<String>,
    command_timeout: Option<String>,
    log: Option<String>,
    data_key_file: Option<PathBuf>,
    session_idle: Option<String>,
    session_max: Option<String>,
    cookie_secure: Option<bool>,
    payment_simulator: Option<bool>,
}

/// A secret that `Debug` never shows.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Parses `alipay=SECRET,wechat=SECRET`: provider names of lower-case
/// letters, digits, `-` and `_`; secrets of at least 16 characters.
pub fn parse_providers(text: &str) -> Result<Vec<(String, Secret)>, String> {
    let mut out: Vec<(String, Secret)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, secret) = part
            .split_once('=')
            .ok_or_else(|| "each provider is NAME=SECRET, separated by commas".to_owned())?;
        let name = name.trim();
        if name.is_empty()
            || name.len() > 32
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "provider name '{name}' must be 1–32 lower-case letters, digits, '-' or '_'"
            ));
        }
        if secret.trim().len() < 16 {
            return Err(format!(
                "the secret of '{name}' must have at least 16 characters"
            ));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!("provider '{name}' is listed twice"));
        }
        out.push((name.to_owned(), Secret(secret.trim().to_owned())));
    }
    Ok(out)
}

/// Parses `90`, `90s`, `1500ms`, `15m` or `2h`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (digits, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t, "s"), |i| t.split_at(i));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 90s, 1500ms, 15m or 2h"))?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "s" | "" => n.checked_mul(1000),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }
    .ok_or_else(|| format!("'{text}' is not a duration like 90s, 1500ms, 15m or 2h"))?;
    if ms == 0 {
        return Err(format!("'{text}' must be more than zero"));
    }
    Ok(std::time::Duration::from_millis(ms))
}

pub const DEFAULT_DATA_DIR: &str = "./yufu-data";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_MQTT_ADDR: &str = "127.0.0.1:1883";
pub const DEFAULT_DLT645_ADDR: &str = "127.0.0.1:8645";
pub const DEFAULT_LOG: &str = "info,sqlx=warn";
pub const DEFAULT_OFFLINE_AFTER: &str = "30m";
pub const DEFAULT_POLL_INTERVAL: &str = "15m";
pub const DEFAULT_POLL_TIMEOUT: &str = "5s";
pub const DEFAULT_POLL_CONCURRENCY: usize = 256;
pub const DEFAULT_COMMAND_TIMEOUT: &str = "30s";
pub const DEFAULT_MQTT_SHARE_GROUP: &str = "yufu";
pub const DEFAULT_SESSION_IDLE: &str = "30m";
pub const DEFAULT_SESSION_MAX: &str = "12h";
/// The key file created in the data directory when no key is configured.
pub const DEFAULT_KEY_FILE: &str = "keys/data.keys";
/// The SQLite file inside the data directory when no URL is given.
pub const SQLITE_FILE: &str = "yufu.db";

/// A value and where it came from, for error messages.
struct Sourced {
    value: String,
    source: String,
}

impl Config {
    /// Loads the configuration from the optional file and the given
    /// environment lookup (injected so tests need not touch the process env).
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let (from_file, file_name) = match file {
            Some(path) => (read_file(path)?, path.display().to_string()),
            None => (FileConfig::default(), String::new()),
        };
        let pick = |var: &str, key: &str, file_value: Option<String>| -> Option<Sourced> {
            if let Some(v) = env(var) {
                return Some(Sourced {
                    value: v,
                    source: var.to_owned(),
                });
            }
            file_value.map(|v| Sourced {
                value: v,
                source: format!("{file_name}: {key}"),
            })
        };

        let data_dir = pick(
            "YUFU_DATA_DIR",
            "data_dir",
            from_file.data_dir.map(|p| p.display().to_string()),
        )
        .map_or_else(
            || PathBuf::from(DEFAULT_DATA_DIR),
            |s| PathBuf::from(s.value),
        );
        if data_dir.as_os_str().is_empty() {
            return Err(ConfigError("YUFU_DATA_DIR: must not be empty".into()));
        }
        let database = match pick("YUFU_DATABASE_URL", "database_url", from_file.database_url) {
            Some(s) if !s.value.trim().is_empty() => DatabaseUrl::parse(&s.value)
                .map_err(|e| ConfigError(format!("{}: {e}", s.source)))?,
            _ => DatabaseUrl::Sqlite(data_dir.join(SQLITE_FILE)),
        };
        let addr = |var: &str,
                    key: &str,
                    file_value: Option<String>,
                    default: &str|
         -> Result<SocketAddr, ConfigError> {
            let s = pick(var, key, file_value).unwrap_or(Sourced {
                value: default.to_owned(),
                source: var.to_owned(),
            });
            s.value.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "{}: '{}' is not a socket address like {default}",
                    s.source, s.value
                ))
            })
        };
        let http_addr = addr(
            "YUFU_HTTP_ADDR",
            "http_addr",
            from_file.http_addr,
            DEFAULT_HTTP_ADDR,
        )?;
        let mqtt_addr_set = env("YUFU_MQTT_ADDR").is_some() || from_file.mqtt_addr.is_some();
        let mqtt_addr = addr(
            "YUFU_MQTT_ADDR",
            "mqtt_addr",
            from_file.mqtt_addr,
            DEFAULT_MQTT_ADDR,
        )?;
        let dlt645_addr_set = env("YUFU_DLT645_ADDR").is_some() || from_file.dlt645_addr.is_some();
        let dlt645_addr = addr(
            "YUFU_DLT645_ADDR",
            "dlt645_addr",
            from_file.dlt645_addr,
            DEFAULT_DLT645_ADDR,
        )?;
        let duration = |var: &str, key: &str, file_value: Option<String>, default: &str| {
            let s = pick(var, key, file_value).unwrap_or(Sourced {
                value: default.to_owned(),
                source: var.to_owned(),
            });
            parse_duration(&s.value).map_err(|e| ConfigError(format!("{}: {e}", s.source)))
        };
        let offline_after = duration(
            "YUFU_OFFLINE_AFTER",
            "offline_after",
            from_file.offline_after,
            DEFAULT_OFFLINE_AFTER,
        )?;
        let poll_interval = duration(
            "YUFU_POLL_INTERVAL",
            "poll_interval",
            from_file.poll_interval,
            DEFAULT_POLL_INTERVAL,
        )?;
        let poll_timeout = duration(
            "YUFU_POLL_TIMEOUT",
            "poll_timeout",
            from_file.poll_timeout,
            DEFAULT_POLL_TIMEOUT,
        )?;
        let command_timeout = duration(
            "YUFU_COMMAND_TIMEOUT",
            "command_timeout",
            from_file.command_timeout,
            DEFAULT_COMMAND_TIMEOUT,
        )?;
        let poll_concurrency = match pick(
            "YUFU_POLL_CONCURRENCY",
            "poll_concurrency",
            from_file.poll_concurrency,
        ) {
            Some(s) => s
                .value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100_000).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{}: '{}' is not a number from 1 to 100000",
                        s.source, s.value
                    ))
                })?,
            None => DEFAULT_POLL_CONCURRENCY,
        };
        let text = |var: &str, key: &str, file_value: Option<String>| {
            pick(var, key, file_value)
                .map(|s| s.value.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mqtt_broker = text("YUFU_MQTT_BROKER", "mqtt_broker", from_file.mqtt_broker)
            .map(|v| {
                let hostport = v
                    .strip_prefix("mqtt://")
                    .or_else(|| v.strip_prefix("tcp://"))
                    .unwrap_or(&v)
                    .trim_end_matches('/')
                    .to_owned();
                if hostport
                    .rsplit_once(':')
                    .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
                {
                    return Err(ConfigError(format!(
                        "YUFU_MQTT_BROKER: '{v}' is not a broker address like mqtt://127.0.0.1:1883"
                    )));
                }
                Ok(hostport)
            })
            .transpose()?;
        let mqtt_share_group = text(
            "YUFU_MQTT_SHARE_GROUP",
            "mqtt_share_group",
            from_file.mqtt_share_group,
        )
        .unwrap_or_else(|| DEFAULT_MQTT_SHARE_GROUP.to_owned());
        if mqtt_share_group.contains(['/', '+', '#']) {
            return Err(ConfigError(format!(
                "YUFU_MQTT_SHARE_GROUP: '{mqtt_share_group}' must not contain '/', '+' or '#'"
            )));
        }
        let mqtt_client_id = text(
            "YUFU_MQTT_CLIENT_ID",
            "mqtt_client_id",
            from_file.mqtt_client_id,
        );
        let mqtt_username = text(
            "YUFU_MQTT_USERNAME",
            "mqtt_username",
            from_file.mqtt_username,
        );
        let mqtt_password = text(
            "YUFU_MQTT_PASSWORD",
            "mqtt_password",
            from_file.mqtt_password,
        )
        .map(Secret);
        let data_key_file = pick(
            "YUFU_DATA_KEY_FILE",
            "data_key_file",
            from_file.data_key_file.map(|p| p.display().to_string()),
        )
        .map(|s| PathBuf::from(s.value.trim()))
        .filter(|p| !p.as_os_str().is_empty());
        let data_key = env("YUFU_DATA_KEY")
            .filter(|v| !v.trim().is_empty())
            .map(|v| Secret(v.replace("\\n", "\n")));
        if data_key.is_some() && data_key_file.is_some() {
            return Err(ConfigError(
                "YUFU_DATA_KEY and YUFU_DATA_KEY_FILE are both set; use one".into(),
            ));
        }
        let session_idle = duration(
            "YUFU_SESSION_IDLE",
            "session_idle",
            from_file.session_idle,
            DEFAULT_SESSION_IDLE,
        )?;
        let session_max = duration(
            "YUFU_SESSION_MAX",
            "session_max",
            from_file.session_max,
            DEFAULT_SESSION_MAX,
        )?;
        let cookie_secure = match env("YUFU_COOKIE_SECURE") {
            Some(v) => Some(match v.trim() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                other => {
                    return Err(ConfigError(format!(
                        "YUFU_COOKIE_SECURE: '{other}' is not true or false"
                    )));
                }
            }),
            None => from_file.cookie_secure,
        };
        let payment_simulator = match env("YUFU_PAYMENT_SIMULATOR") {
            Some(v) => Some(match v.trim() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                other => {
                    return Err(ConfigError(format!(
                        "YUFU_PAYMENT_SIMULATOR: '{other}' is not true or false"
                    )));
                }
            }),
            None => from_file.payment_simulator,
        };
        let payment_providers = match env("YUFU_PAYMENT_PROVIDERS") {
            Some(v) if !v.trim().is_empty() => parse_providers(&v)
                .map_err(|e| ConfigError(format!("YUFU_PAYMENT_PROVIDERS: {e}")))?,
            _ => Vec::new(),
        };
        let log = match pick("YUFU_LOG", "log", from_file.log) {
            Some(s) => {
                tracing_subscriber::EnvFilter::try_new(&s.value).map_err(|e| {
                    ConfigError(format!(
                        "{}: '{}' is not a log filter: {e}",
                        s.source, s.value
                    ))
                })?;
                s.value
            }
            None => DEFAULT_LOG.to_owned(),
        };
        // Two listeners on one port would make the second fail at start-up
        // with a less helpful message; say which two collide instead.
        let listeners = [
            ("YUFU_HTTP_ADDR", http_addr),
            ("YUFU_MQTT_ADDR", mqtt_addr),
            ("YUFU_DLT645_ADDR", dlt645_addr),
        ];
        for (i, (a_var, a)) in listeners.iter().enumerate() {
            for (b_var, b) in &listeners[i + 1..] {
                if a.port() != 0 && a == b {
                    return Err(ConfigError(format!(
                        "{a_var} and {b_var} are both {a}; give each its own port"
                    )));
                }
            }
        }
        Ok(Self {
            data_dir,
            database,
            http_addr,
            mqtt_addr,
            mqtt_addr_set,
            dlt645_addr,
            dlt645_addr_set,
            mqtt_broker,
            mqtt_share_group,
            mqtt_client_id,
            mqtt_username,
            mqtt_password,
            offline_after,
            poll_interval,
            poll_timeout,
            poll_concurrency,
            data_key_file,
            data_key,
            session_idle,
            session_max,
            cookie_secure,
            payment_providers,
            payment_simulator,
            command_timeout,
            log,
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let place = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!(" line {line}")
            })
            .unwrap_or_default();
        // toml's message spans several lines with a source excerpt; the first
        // line says what is wrong, which is what one error line needs.
        let what = e
            .message()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_owned();
        ConfigError(format!("config file {}{place}: {what}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./yufu-data"));
        assert_eq!(
            c.database,
            DatabaseUrl::Sqlite(PathBuf::from("./yufu-data/yufu.db"))
        );
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.mqtt_addr.to_string(), "127.0.0.1:1883");
        assert_eq!(c.dlt645_addr.to_string(), "127.0.0.1:8645");
        assert_eq!(c.log, DEFAULT_LOG);
    }

    #[test]
    fn environment_beats_file_beats_defaults() {
        let f =
            file("http_addr = \"127.0.0.1:9000\"\ndata_dir = \"/var/lib/yufu\"\nlog = \"debug\"\n");
        let c = Config::load(Some(f.path()), env(&[("YUFU_HTTP_ADDR", "0.0.0.0:80")])).unwrap();
        assert_eq!(c.http_addr.to_string(), "0.0.0.0:80");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/yufu"));
        assert_eq!(
            c.database,
            DatabaseUrl::Sqlite(PathBuf::from("/var/lib/yufu/yufu.db"))
        );
        assert_eq!(c.log, "debug");
    }

    #[test]
    fn unknown_keys_and_bad_toml_name_the_line() {
        let f = file("http_addr = \"127.0.0.1:9000\"\nhttp_port = 80\n");
        let e = Config::load(Some(f.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("unknown field `http_port`"),
            "{e}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
        let f = file("data_dir = [unclosed\n");
        let e = Config::load(Some(f.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
        let e = Config::load(Some(Path::new("/no/such/yufu.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot read config file /no/such/yufu.toml"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_their_source() {
        let e = Config::load(None, env(&[("YUFU_HTTP_ADDR", "localhost")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "YUFU_HTTP_ADDR: 'localhost' is not a socket address like 127.0.0.1:8080"
        );
        let f = file("mqtt_addr = \"nope\"\n");
        let e = Config::load(Some(f.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(": mqtt_addr: 'nope'"), "{e}");
        let e = Config::load(None, env(&[("YUFU_DATABASE_URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("YUFU_DATABASE_URL: unsupported database 'mysql'"),
            "{e}"
        );
        let e = Config::load(None, env(&[("YUFU_LOG", "info,[")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("YUFU_LOG:"), "{e}");
    }

    #[test]
    fn listeners_need_their_own_ports() {
        let e = Config::load(None, env(&[("YUFU_DLT645_ADDR", "127.0.0.1:8080")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "YUFU_HTTP_ADDR and YUFU_DLT645_ADDR are both 127.0.0.1:8080; give each its own port"
        );
        assert!(
            Config::load(
                None,
                env(&[
                    ("YUFU_HTTP_ADDR", "127.0.0.1:0"),
                    ("YUFU_MQTT_ADDR", "127.0.0.1:0")
                ])
            )
            .is_ok()
        );
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/a.db").unwrap(),
            DatabaseUrl::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:a.db").unwrap(),
            DatabaseUrl::Sqlite("a.db".into())
        );
        assert!(DatabaseUrl::parse("sqlite::memory:").is_err());
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@127.0.0.1/test").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgresql://h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("postgres:///db").is_err());
        assert!(DatabaseUrl::parse("").is_err());
    }

    #[test]
    fn passwords_never_show() {
        let url = DatabaseUrl::parse("postgres://yufu:hunter2@db.example:5432/yufu").unwrap();
        assert_eq!(url.to_string(), "postgres://yufu:***@db.example:5432/yufu");
        assert!(!format!("{url:?}").contains("hunter2"));
        let c = Config::load(
            None,
            env(&[("YUFU_DATABASE_URL", "postgres://yufu:hunter2@h/db")]),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        let e = DatabaseUrl::parse("postgres://yufu:hunter2@").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn payment_simulator_is_unset_unless_asked() {
        assert_eq!(
            Config::load(None, env(&[])).unwrap().payment_simulator,
            None
        );
        let on = Config::load(None, env(&[("YUFU_PAYMENT_SIMULATOR", "true")])).unwrap();
        assert_eq!(on.payment_simulator, Some(true));
        let off = Config::load(None, env(&[("YUFU_PAYMENT_SIMULATOR", "false")])).unwrap();
        assert_eq!(off.payment_simulator, Some(false));
        let f = file("payment_simulator = true\n");
        let from_file = Config::load(Some(f.path()), env(&[])).unwrap();
        assert_eq!(from_file.payment_simulator, Some(true));
        let e = Config::load(None, env(&[("YUFU_PAYMENT_SIMULATOR", "maybe")])).unwrap_err();
        assert!(e.0.starts_with("YUFU_PAYMENT_SIMULATOR:"), "{e}");
    }
}
