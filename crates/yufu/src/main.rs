#![doc = include_str!("../README.md")]
#![allow(
    clippy::print_stdout,
    reason = "a command-line program prints its results"
)]

/// mimalloc rather than the system allocator: the writer builds and frees
/// many small rows per reading, and glibc's allocator spent a fifth of the
/// ingest time in malloc/free (measured with perf, see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod access_cmd;
mod bench;
mod bench_fleet;
mod bench_mqtt;
mod config;
mod demo;
mod demo_lifecycle;
mod import_cmd;
mod lifecycle_cmd;
mod password;
mod protocol_cmd;
mod run;
mod sim;
mod tariff_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Yufu (预付): prepaid electricity, water and gas meters, and every device's whole life.
#[derive(Debug, Parser)]
#[command(name = "yufu", version, about, long_about = None)]
struct Cli {
    /// A yufu.toml file. Environment variables (YUFU_*) override its values.
    #[arg(long, global = true, env = "YUFU_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform: migrate the database, then serve HTTP until SIGTERM or Ctrl-C.
    Serve,
    /// Run the platform with a Guangzhou demo organisation seeded; prints the console URL and the admin login.
    Demo,
    /// Apply pending database migrations and exit (serve and demo also do this at start-up).
    Migrate,
    /// Print the version and exit.
    Version,
    /// Check tariff files and quote consumption: explain a bill.
    Tariff {
        #[command(subcommand)]
        command: TariffCommand,
    },
    /// Decode meter frames and build requests (DL/T 645, CJ/T 188).
    Protocol {
        #[command(subcommand)]
        command: ProtocolCommand,
    },
    /// Simulate meters reporting to a running Yufu over real sockets
    /// (readings, commands honoured, faults injected).
    Sim {
        /// How many of the database's meters in service to simulate.
        #[arg(long, default_value_t = 100)]
        meters: usize,
        /// The transport: the MQTT device API, or DL/T 645 / CJ/T 188 over TCP.
        #[arg(long, value_enum, default_value_t = sim::Via::Mqtt)]
        via: sim::Via,
        /// Where to connect (default: YUFU_MQTT_ADDR or YUFU_DLT645_ADDR).
        #[arg(long, value_name = "ADDR")]
        target: Option<String>,
        /// Yufu's HTTP API, to continue each meter from its last reading
        /// (default: YUFU_HTTP_ADDR).
        #[arg(long, value_name = "ADDR")]
        api: Option<std::net::SocketAddr>,
        /// Time between reports, e.g. 60s.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        interval: std::time::Duration,
        /// Consumption multiplier (720: a day in two minutes).
        #[arg(long, default_value_t = 1)]
        speed: u32,
        /// Faults per report, e.g. drop=0.01,duplicate=0.005,out_of_order=0.005,late_burst=0.001,silence=0.001,tamper=0.0001,gas_leak=0.0001
        #[arg(long, default_value = "")]
        faults: String,
        /// MQTT on an external broker: topics are yufu/{token}/… (see README).
        #[arg(long)]
        mapped_topics: bool,
        /// How long to run (default: until Ctrl-C).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<std::time::Duration>,
    },
    /// Device access: MQTT tokens for meters and gateways.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Staff users: `yufu user add --role admin NAME` creates the first admin.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Scoped API tokens for integrations and scripts.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The audit log: `yufu audit verify` checks its hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Keys for personal data at rest: generate a key line, re-seal after rotation.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Import a CSV file of customers, accounts, meters or devices: every
    /// problem is printed and nothing is written unless the whole file is
    /// right (layouts: yufu-csvio's README).
    Import {
        /// What the file holds.
        #[arg(value_parser = ["customers", "accounts", "meters", "devices"])]
        kind: String,
        /// The CSV file: UTF-8 (with or without BOM) or GB18030 (Chinese Excel's "CSV").
        file: PathBuf,
        /// Organisation id or name; default: the only one.
        #[arg(long)]
        organisation: Option<String>,
        /// Check the file and print every problem; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The device lifecycle (设备全生命周期): a device's history, delivery
    /// serial imports, moves, contracts, supplier scorecards, replacement.
    Lifecycle {
        #[command(subcommand)]
        command: LifecycleCommand,
        /// Organisation id or name; default: the only one.
        #[arg(long, global = true)]
        organisation: Option<String>,
    },
    /// Measure Yufu's speed (see BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Clone, Subcommand)]
enum ProtocolCommand {
    /// Decode one frame and print it as one JSON object (address, control,
    /// direction, data identifier, decoded values with units); a frame that
    /// does not decode prints {"error": …} and exits 2.
    Decode {
        #[arg(value_enum)]
        protocol: protocol_cmd::Protocol,
        /// The frame in hex; spaces allowed (quote it, or pass it as several words).
        #[arg(required = true, num_args = 1..)]
        hex: Vec<String>,
        /// CJ/T 188 only: the data identifier's byte order.
        #[arg(long, value_enum, default_value_t = protocol_cmd::DiOrder::LowFirst)]
        di_order: protocol_cmd::DiOrder,
    },
    /// Build a request frame and print it in hex (with the FE wake-up preamble).
    Encode {
        #[command(subcommand)]
        request: EncodeRequest,
    },
}

#[derive(Debug, Clone, Subcommand)]
enum EncodeRequest {
    /// DL/T 645 read data.
    Dlt645Read {
        /// 12 hex digits, most significant first (AA = wildcard byte).
        #[arg(long)]
        address: String,
        /// Data identifier: 8 hex digits (2007, e.g. 00010000) or 4 (1997, e.g. 9010).
        #[arg(long)]
        di: String,
    },
    /// DL/T 645 read address (broadcast).
    Dlt645ReadAddress,
    /// DL/T 645 relay control (1C): trip, close, keep power.
    Dlt645Relay {
        #[arg(long)]
        address: String,
        #[arg(long, value_enum)]
        action: protocol_cmd::RelayArg,
        /// Password level (PA), e.g. 2 or 4.
        #[arg(long, default_value_t = 2)]
        level: u8,
        /// Password, 6 hex digits.
        #[arg(long, default_value = "000000")]
        password: String,
        /// Operator code, 8 hex digits.
        #[arg(long, default_value = "00000000")]
        operator: String,
        /// When the command expires, local time `YYYY-MM-DD HH:MM:SS`.
        #[arg(long)]
        expiry: String,
    },
    /// CJ/T 188 read data (901F).
    Cjt188Read {
        #[arg(long, value_enum)]
        meter_type: protocol_cmd::MeterKind,
        /// 14 hex digits, most significant first.
        #[arg(long)]
        address: String,
        /// Serial number SER, echoed by the meter.
        #[arg(long, default_value_t = 0)]
        ser: u8,
        #[arg(long, value_enum, default_value_t = protocol_cmd::DiOrder::LowFirst)]
        di_order: protocol_cmd::DiOrder,
    },
    /// CJ/T 188 valve control (A017).
    Cjt188Valve {
        #[arg(long, value_enum)]
        meter_type: protocol_cmd::MeterKind,
        #[arg(long)]
        address: String,
        #[arg(long, value_enum)]
        action: protocol_cmd::ValveAction,
        #[arg(long, default_value_t = 0)]
        ser: u8,
        #[arg(long, value_enum, default_value_t = protocol_cmd::DiOrder::LowFirst)]
        di_order: protocol_cmd::DiOrder,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a staff user; prints a generated password once.
    Add {
        /// The user name (sign-in name).
        name: String,
        /// admin, manager, finance, cashier, service_agent, technician or auditor.
        #[arg(long)]
        role: String,
        /// Organisation id or name (a new name creates it); default: the only one.
        #[arg(long)]
        organisation: Option<String>,
        /// Limit the user to these site ids (comma-separated); default: every site.
        #[arg(long, value_delimiter = ',')]
        sites: Vec<String>,
        /// The name shown in the console; default: the user name.
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token (printed once; only its hash is kept).
    Create {
        /// The role the token acts as.
        #[arg(long)]
        role: String,
        /// Limit the token to these site ids (comma-separated); default: every site.
        #[arg(long, value_delimiter = ',')]
        sites: Vec<String>,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Organisation id or name; default: the only one.
        #[arg(long)]
        organisation: Option<String>,
        /// Days until it expires (1–730).
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the hash chain; names the first broken link (exit code 1).
    Verify,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Print a new key line (`ID:BASE64`) to append to the key file.
    Generate {
        #[arg(long)]
        id: Option<String>,
    },
    /// Re-seal all personal data under the key file's last key.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Issue an MQTT access token (the device's MQTT username) for a meter,
    /// by serial; printed once, only its hash is stored.
    Token {
        /// The meter's serial number.
        serial: String,
    },
    /// Issue a token for a gateway (concentrator) that reports for the
    /// organisation's meters by serial through the gateway API.
    GatewayToken {
        /// A name for people (e.g. the DTU's label).
        name: String,
        /// The organisation (id); default: the only one.
        #[arg(long)]
        organisation: Option<String>,
    },
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    config::parse_duration(s)
}

#[derive(Debug, Subcommand)]
enum LifecycleCommand {
    /// A device's state, warranty and whole history (who, when, why).
    Show { serial: String },
    /// Import a delivery's serial numbers from CSV (columns: serial,
    /// comm_address, contract_line, note); every bad row is printed and
    /// nothing is written unless the whole file is right.
    Serials {
        /// The delivery's id (from the API or the console).
        delivery: String,
        file: PathBuf,
        /// Check the file against the contract and print every problem; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Move a device: return_to_supplier, stock, report_fault, start_repair,
    /// repair, restock or retire.
    Move {
        serial: String,
        action: String,
        #[arg(long)]
        reason: String,
    },
    /// A purchase contract's totals, delivery progress per line and its
    /// deliveries (their ids are what `serials` takes).
    Contract {
        /// The contract's id or number (e.g. HT-2026-0001).
        id: String,
    },
    /// Every supplier's scorecard.
    Suppliers,
    /// Devices due for replacement (service life, fault rates), and why.
    Due,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Add a generated load-test organisation with this many households
    /// (unit, customer, account, in-service meter each) to the configured
    /// database, once; prints one JSON line with an admin API token for it.
    /// Then measure the console with scripts/bench-console.sh.
    Fleet {
        #[arg(long, default_value_t = 1_000_000)]
        meters: usize,
    },
    /// Drive the real engine and store in-process on a fresh database with
    /// tiered tariffs on every account; progress on stderr, one JSON line on
    /// stdout; fails if the ledger invariant does not hold at the end.
    Ingest {
        /// Meters (one account each).
        #[arg(long, default_value_t = 10_000)]
        meters: usize,
        /// Readings in all (round-robin over the meters, an hour apart).
        #[arg(long, default_value_t = 100_000)]
        readings: usize,
        /// A database URL: sqlite://PATH (must be fresh) or postgres://… (a
        /// new schema is made and dropped). Default: a temporary SQLite file.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
    },
    /// Readings through the embedded MQTT endpoint into the engine, over
    /// real loopback sockets; then optionally hold many idle connections.
    /// One JSON line on stdout.
    Mqtt {
        /// Simulated devices (one connection and one meter each).
        #[arg(long, default_value_t = 1_000)]
        devices: usize,
        /// Readings in all (QoS 1, acknowledged after commit).
        #[arg(long, default_value_t = 200_000)]
        readings: usize,
        /// Unacknowledged publishes per device at once.
        #[arg(long, default_value_t = 32)]
        window: usize,
        /// Afterwards, open this many idle device connections and report
        /// the memory per connection (needs 127.0.0.x source addresses
        /// beyond ~28 000 connections).
        #[arg(long, default_value_t = 0)]
        hold: usize,
        /// Readings per publish (a DTU's batched upload); 1 = one each.
        #[arg(long, default_value_t = 1)]
        per_publish: usize,
    },
}

#[derive(Debug, Subcommand)]
enum TariffCommand {
    /// Validate a tariff file and print a readable summary.
    Check {
        /// A tariff file in TOML (see docs/tariffs.md).
        file: PathBuf,
    },
    /// Price a series of readings with a tariff; prints one JSON object.
    Quote {
        /// A tariff file in TOML.
        #[arg(long, value_name = "FILE")]
        tariff: PathBuf,
        /// CSV with the header `time,register`: RFC 3339 instants with offset,
        /// cumulative register in Wh or litres. The first row is the opening reading.
        #[arg(long, value_name = "CSV")]
        readings: PathBuf,
        /// The meter's multiplier (CT × PT ratio).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        multiplier: u32,
        /// The register wraps to zero at this value (base units).
        #[arg(long, default_value_t = 1_000_000_000)]
        register_capacity: u64,
        /// Hold readings with more than this consumption per hour (base units) for review.
        #[arg(long)]
        max_per_hour: Option<u64>,
    },
}

/// Exit code for bad configuration (the operator's input is wrong).
const EXIT_CONFIG: u8 = 2;
/// Exit code for a bad input file (tariff, readings).
const EXIT_INPUT: u8 = 2;
/// Exit code for any other failure to start or run.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Version => {
            println!("yufu {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        // Tariff tools are pure: no configuration, database or runtime.
        Command::Tariff { command } => {
            let result = match command {
                TariffCommand::Check { file } => tariff_cmd::check(file),
                TariffCommand::Quote {
                    tariff,
                    readings,
                    multiplier,
                    register_capacity,
                    max_per_hour,
                } => tariff_cmd::quote(
                    tariff,
                    readings,
                    tariff_cmd::QuoteMeter {
                        multiplier: *multiplier,
                        register_capacity: *register_capacity,
                        max_per_hour: *max_per_hour,
                    },
                ),
            };
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
                    ExitCode::from(EXIT_INPUT)
                }
            };
        }
        Command::Protocol { command } => return protocol(command.clone()),
        Command::Keys {
            command: KeysCommand::Generate { id },
        } => {
            return match access_cmd::keys_generate(id.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    let config = match config::Config::load(cli.config.as_deref(), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    run::init_tracing(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => run::serve(config, run::Mode::Serve).await,
            Command::Demo => run::serve(config, run::Mode::Demo).await,
            Command::Migrate => run::migrate(config).await,
            Command::Bench {
                command: BenchCommand::Fleet { meters },
            } => bench_fleet::fleet(config, meters).await,
            Command::Bench {
                command:
                    BenchCommand::Ingest {
                        meters,
                        readings,
                        database,
                    },
            } => {
                bench::ingest(bench::Args {
                    meters,
                    readings,
                    database,
                })
                .await
            }
            Command::Bench {
                command:
                    BenchCommand::Mqtt {
                        devices,
                        readings,
                        window,
                        hold,
                        per_publish,
                    },
            } => {
                bench_mqtt::mqtt(bench_mqtt::MqttArgs {
                    devices,
                    readings,
                    window,
                    hold,
                    per_publish,
                })
                .await
            }
            Command::Sim {
                meters,
                via,
                target,
                api,
                interval,
                speed,
                faults,
                mapped_topics,
                duration,
            } => {
                sim::command(
                    config,
                    sim::SimArgs {
                        meters,
                        via,
                        target,
                        api,
                        interval,
                        speed,
                        faults,
                        mapped_topics,
                        duration,
                    },
                )
                .await
            }
            Command::Device { command } => match command {
                DeviceCommand::Token { serial } => sim::device_token(config, &serial).await,
                DeviceCommand::GatewayToken { name, organisation } => {
                    sim::gateway_token(config, &name, organisation.as_deref()).await
                }
            },
            Command::User {
                command:
                    UserCommand::Add {
                        name,
                        role,
                        organisation,
                        sites,
                        display_name,
                    },
            } => {
                access_cmd::user_add(
                    config,
                    &name,
                    &role,
                    organisation.as_deref(),
                    &sites,
                    display_name.as_deref(),
                )
                .await
            }
            Command::Token {
                command:
                    TokenCommand::Create {
                        role,
                        sites,
                        name,
                        organisation,
                        days,
                    },
            } => {
                access_cmd::token_create(
                    config,
                    &role,
                    &name,
                    organisation.as_deref(),
                    &sites,
                    days,
                )
                .await
            }
            Command::Audit {
                command: AuditCommand::Verify,
            } => match access_cmd::audit_verify(config).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(anyhow::anyhow!(
                    "the audit log's hash chain is broken (see above)"
                )),
                Err(e) => Err(e),
            },
            Command::Keys {
                command: KeysCommand::Rotate,
            } => access_cmd::keys_rotate(config).await,
            Command::Lifecycle {
                command,
                organisation,
            } => {
                let org = organisation.as_deref();
                match command {
                    LifecycleCommand::Show { serial } => {
                        lifecycle_cmd::show(config, &serial, org).await
                    }
                    LifecycleCommand::Serials {
                        delivery,
                        file,
                        dry_run,
                    } => lifecycle_cmd::serials(config, &delivery, &file, dry_run, org).await,
                    LifecycleCommand::Move {
                        serial,
                        action,
                        reason,
                    } => lifecycle_cmd::move_device(config, &serial, &action, &reason, org).await,
                    LifecycleCommand::Contract { id } => {
                        lifecycle_cmd::contract(config, &id, org).await
                    }
                    LifecycleCommand::Suppliers => lifecycle_cmd::suppliers(config, org).await,
                    LifecycleCommand::Due => lifecycle_cmd::due(config, org).await,
                }
            }
            Command::Import {
                kind,
                file,
                organisation,
                dry_run,
            } => import_cmd::run(config, &kind, &file, organisation.as_deref(), dry_run).await,
            Command::Keys {
                command: KeysCommand::Generate { .. },
            } => Ok(()),
            Command::Version | Command::Tariff { .. } | Command::Protocol { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A bad input file: its problems are printed already.
        Err(e)
            if e.is::<import_cmd::ProblemsFound>() || e.is::<lifecycle_cmd::SerialProblems>() =>
        {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INPUT)
        }
        Err(e) => {
            // One line: the chain joined, so "cannot open database …: cause".
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// `yufu protocol …`: no configuration, no runtime.
#[allow(clippy::print_stdout)]
fn protocol(command: ProtocolCommand) -> ExitCode {
    let printed = match command {
        ProtocolCommand::Decode {
            protocol,
            hex,
            di_order,
        } => match protocol_cmd::decode(protocol, &hex.join(" "), di_order) {
            Ok(v) => Ok(v.to_string()),
            Err(v) => {
                println!("{v}");
                return ExitCode::from(EXIT_INPUT);
            }
        },
        ProtocolCommand::Encode { request } => match request {
            EncodeRequest::Dlt645Read { address, di } => protocol_cmd::dlt645_read(&address, &di),
            EncodeRequest::Dlt645ReadAddress => Ok(protocol_cmd::dlt645_read_address()),
            EncodeRequest::Dlt645Relay {
                address,
                action,
                level,
                password,
                operator,
                expiry,
            } => protocol_cmd::dlt645_relay(&address, action, level, &password, &operator, &expiry),
            EncodeRequest::Cjt188Read {
                meter_type,
                address,
                ser,
                di_order,
            } => protocol_cmd::cjt188(meter_type, &address, ser, None, di_order),
            EncodeRequest::Cjt188Valve {
                meter_type,
                address,
                action,
                ser,
                di_order,
            } => protocol_cmd::cjt188(meter_type, &address, ser, Some(action), di_order),
        },
    };
    match printed {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(protocol_cmd::BadInput(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_INPUT)
        }
    }
}
