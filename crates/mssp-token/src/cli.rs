//! Command-line parsing, clap definitions only (the "low args"): the commands, flags and
//! environment variables of the contract. `args.rs` turns them into domain values.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `--cloud`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloudArg {
    /// Azure public cloud
    Public,
    /// US Government Community Cloud (public login host, *-gcc API hosts)
    Gcc,
    /// Azure Government: GCC High
    Usgov,
    /// Azure Government: DoD
    Dod,
    /// Azure China (21Vianet)
    China,
}

/// `-o` for token sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// the seed script's layout: ---- TOKEN ---- / ---- REFRESH TOKEN ---- and the expiry
    Text,
    /// one JSON object
    Json,
    /// `export MSSP_ACCESS_TOKEN=...` lines for a shell
    Env,
    /// the access token alone
    Raw,
}

/// `--api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiArg {
    /// Microsoft Defender for Endpoint (api.securitycenter.microsoft.com)
    Mde,
    /// Microsoft Defender XDR (api.security.microsoft.com)
    Xdr,
    /// Microsoft Graph security API (graph.microsoft.com)
    Graph,
}

#[derive(Debug, Parser)]
#[command(
    name = "mssp-token",
    version,
    about = "Microsoft Entra ID tokens for MSSPs: sign in once per customer tenant, get app-only tokens, onboard many tenants",
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 internal error, 2 usage, 3 Entra refused (AADSTS), 4 interaction failed, 5 token check failed, 6 network, 7 storage, 8 some tenants failed.\nTry it without Azure: mssp-token login --sandbox"
)]
pub struct Cli {
    /// Print what is sent where (never secrets or tokens) on stderr.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in to one customer tenant in the browser (authorization code + PKCE) and print or save the tokens.
    Login(LoginArgs),
    /// Get an app-only token by client credentials (secret, certificate or federated token).
    Token(TokenArgs),
    /// Redeem a saved refresh token (a file, a profile, or --all profiles) and store the rotated one.
    Refresh(RefreshArgs),
    /// The offline inventory of every profile: which sessions need attention, and the command to fix each.
    Status(StatusArgs),
    /// Delete a profile's stored credential (revoking the session in Entra is a separate admin action).
    Logout(LogoutArgs),
    /// Print the admin-consent link for the multi-tenant app; with --listen, catch the result.
    Consent(ConsentArgs),
    /// Decode a JWT locally (never sent anywhere); with --require-role / --expect-* check it.
    Inspect(InspectArgs),
    /// Call a Defender API path with a token (e.g. `api /api/alerts`).
    Api(ApiArgs),
    /// For every tenant in a file: a token, the role check and an API probe; one NDJSON line each.
    Onboard(OnboardArgs),
    /// Every tenant's alerts and incidents, incrementally and exactly once, as NDJSON (a SIEM's feed).
    Collect(CollectArgs),
    /// Work on the reports of `onboard` and `collect` (e.g. merge the shards of a CI matrix).
    Report(ReportArgs),
    /// Run a simulated Entra ID on loopback, for rehearsal and tests (its tokens are valid nowhere else).
    Sandbox(SandboxArgs),
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, powershell or elvish
        shell: clap_complete::Shell,
    },
}

/// Who is asking, of which tenant, for what.
#[derive(Debug, Args, Clone)]
pub struct IdentityArgs {
    /// The customer's tenant: its ID (GUID) or a verified domain such as contoso.onmicrosoft.com.
    #[arg(long, env = "AZURE_TENANT_ID", hide_env_values = true)]
    pub tenant: Option<String>,

    /// The application (client) ID of the app registration.
    #[arg(long, env = "AZURE_CLIENT_ID", hide_env_values = true)]
    pub client_id: Option<String>,

    /// Read the client secret from this file (trailing newline trimmed). Or set AZURE_CLIENT_SECRET.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["client_secret_stdin", "client_secret"])]
    pub client_secret_file: Option<PathBuf>,

    /// Read the client secret from the first line of standard input.
    #[arg(long, conflicts_with = "client_secret")]
    pub client_secret_stdin: bool,

    /// The client secret itself. Visible to other users in the process list: prefer AZURE_CLIENT_SECRET or --client-secret-file.
    #[arg(long, value_name = "VALUE", hide_short_help = true)]
    pub client_secret: Option<String>,

    /// Authenticate with a certificate: PEM (certificate + private key) or PFX. Or set AZURE_CLIENT_CERTIFICATE_PATH.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["client_secret_file", "client_secret_stdin", "client_secret", "federated_token_file"])]
    pub certificate: Option<PathBuf>,

    /// Password of a PFX certificate (prefer AZURE_CLIENT_CERTIFICATE_PASSWORD: argv is visible to other users).
    #[arg(
        long,
        value_name = "PASSWORD",
        requires = "certificate",
        hide_short_help = true
    )]
    pub certificate_password: Option<String>,

    /// Authenticate with a federated token (workload identity), re-read for every request. Or set AZURE_FEDERATED_TOKEN_FILE.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["client_secret_file", "client_secret_stdin", "client_secret"])]
    pub federated_token_file: Option<PathBuf>,

    /// The cloud: its login host, API hosts and token audiences [default: public; `refresh`: the file's].
    #[arg(long, value_enum)]
    pub cloud: Option<CloudArg>,

    /// Login host to use instead of the cloud's (e.g. the sandbox's http://127.0.0.1:PORT).
    #[arg(
        long,
        value_name = "URL",
        env = "AZURE_AUTHORITY_HOST",
        hide_env_values = true
    )]
    pub authority: Option<String>,

    /// v1: the resource (API) to get a token for.
    #[arg(long, value_name = "URI", conflicts_with = "scope")]
    pub resource: Option<String>,

    /// v2: a scope to ask for (repeatable); switches to the v2 endpoints.
    #[arg(long, value_name = "S")]
    pub scope: Vec<String>,

    /// Extra trusted CA certificates (PEM), e.g. a TLS-inspecting proxy's or the sandbox's.
    #[arg(
        long,
        value_name = "PEM",
        env = "SSL_CERT_FILE",
        hide_env_values = true
    )]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Output format on stdout.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub output: Format,

    /// Also save the result as JSON to FILE (atomic write, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// Where profiles are kept.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// The credential store for profiles: file (0600 JSON files), keyring (the OS keychain:
    /// Secret Service, Keychain, Credential Manager), encrypted (age files), none (keep nothing).
    #[arg(long, value_enum, env = "MSSP_TOKEN_STORE", default_value_t = StoreArg::File)]
    pub store: StoreArg,

    /// The encrypted store's passphrase, read from FILE (else MSSP_TOKEN_PASSPHRASE, or an age
    /// identity file named by MSSP_TOKEN_IDENTITY).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreArg {
    File,
    Keyring,
    Encrypted,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Prompt {
    SelectAccount,
    Login,
    Consent,
    None,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    /// The redirect URI registered on the app. http://localhost/... is served by a loopback
    /// listener on any port; anything else switches to paste mode.
    #[arg(
        long,
        value_name = "URI",
        default_value = "http://localhost/SiemMsspConnector"
    )]
    pub redirect_uri: String,

    /// Listen on this port instead of a free one (for SSH -L forwarding or containers).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Do not open a browser: print the URL, keep listening, and also accept the address the
    /// browser landed on (or the code) pasted on standard input.
    #[arg(long)]
    pub no_browser: bool,

    /// Command that opens the URL (e.g. a browser profile per customer: 'firefox -P contoso').
    /// Default: $BROWSER, else the system browser.
    #[arg(long, value_name = "CMD")]
    pub browser_command: Option<String>,

    /// What the sign-in page asks of the user.
    #[arg(long, value_enum, default_value_t = Prompt::SelectAccount)]
    pub prompt: Prompt,

    /// Pre-fill the account name on the sign-in page.
    #[arg(long, value_name = "UPN")]
    pub login_hint: Option<String>,

    /// Skip the home-realm discovery page for this domain.
    #[arg(long, value_name = "DOMAIN")]
    pub domain_hint: Option<String>,

    /// Seconds to wait for the sign-in to come back.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub wait: u64,

    /// Sign in on another device: print a code and a URL (on stderr), and wait while someone
    /// enters the code there and signs in (the device code flow; no browser or listener here).
    /// Often blocked by Conditional Access: then use --port N with `ssh -L`, or paste mode.
    #[arg(long, conflicts_with_all = ["port", "no_browser", "browser_command", "redirect_uri", "login_hint", "domain_hint", "prompt"])]
    pub device_code: bool,

    /// Run the whole flow against a simulated Entra ID started in this process (no Azure needed).
    #[arg(long)]
    pub sandbox: bool,

    /// Save the tokens as this profile (usually the customer's short name) in the store
    /// (--store); instead of --save, not with it.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Save the profile as a partner (GDAP) session rather than one customer's.
    #[arg(long, requires = "profile")]
    pub partner: bool,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (default: a free port).
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,

    /// JSON file with your own tenants and apps (default: a built-in set).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Defender API requests allowed per minute per tenant; more get 429 with Retry-After.
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,

    /// Add N generated tenants with a realistic mix of states (consented, missing role, not consented, expired secret).
    #[arg(long = "tenants", value_name = "N")]
    pub generate_tenants: Option<u32>,

    /// Write a tenants file for `onboard` listing every tenant (TOML; a plain list beside it as FILE.txt).
    #[arg(long = "write-tenants", value_name = "FILE")]
    pub tenants_file: Option<PathBuf>,

    /// Inject faults into token and API requests, e.g. '429=0.1,503=0.05,reset=0.02,malformed=0.02,html=0.02,stall=0.01'.
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,

    /// Seed for the fault choice (repeatable runs).
    #[arg(long = "seed", value_name = "N")]
    pub fault_seed: Option<u64>,

    /// Retry-After seconds on injected 429/503 answers.
    #[arg(long, value_name = "SECS")]
    pub retry_after: Option<u32>,

    /// How long a 'stall' fault holds the body (seconds).
    #[arg(long, value_name = "SECS")]
    pub stall_secs: Option<u64>,

    /// Added latency on every token and API answer (milliseconds).
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,

    /// Server threads (default: max(8, 4 x cores)).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Serve HTTPS with a generated CA (its path is ca_file in the first line).
    #[arg(long)]
    pub tls: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    /// An application permission the token must carry (repeatable), e.g. Alert.Read.All.
    /// Checked before anything is printed: exit 5 if one is missing.
    #[arg(long, value_name = "ROLE")]
    pub require_role: Vec<String>,

    /// Always ask Entra; neither read nor write the token cache.
    #[arg(long)]
    pub no_cache: bool,

    /// Print the access token of this profile instead (refreshed first if it has less than 5
    /// minutes left, and the rotated refresh token stored). Not with --save: a second copy of
    /// the refresh token would die at the profile's next rotation.
    #[arg(long, value_name = "NAME", conflicts_with = "save")]
    pub profile: Option<String>,

    /// GDAP: redeem this partner profile's refresh token (`login --partner`) in the customer
    /// tenant given by --tenant, for a delegated token there (default scope: the --api's
    /// .default); the app's credential as for client credentials.
    #[arg(long, value_name = "NAME", conflicts_with = "profile")]
    pub partner: Option<String>,

    /// With --partner: the API the token is for (its audience in the cloud) [default: mde].
    #[arg(long, value_enum, requires = "partner")]
    pub api: Option<ApiArg>,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The token, or '-' to read it from standard input.
    #[arg(value_name = "TOKEN", conflicts_with_all = ["from", "profile"])]
    pub token: Option<String>,

    /// Inspect the access token of this profile.
    #[arg(long, value_name = "NAME", conflicts_with = "from")]
    pub profile: Option<String>,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Read the access token from a file saved with --save (or a file holding just the token).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// A role the token must carry (repeatable).
    #[arg(long, value_name = "ROLE")]
    pub require_role: Vec<String>,

    /// The tenant ID (GUID) the token must be from.
    #[arg(long, value_name = "GUID")]
    pub expect_tenant: Option<String>,

    /// The audience the token must be for, e.g. https://api.securitycenter.microsoft.com.
    #[arg(long, value_name = "AUD")]
    pub expect_audience: Option<String>,

    /// text (default) or json.
    #[arg(long, short = 'o', value_enum, default_value_t = ReportFormat::Text)]
    pub output: ReportFormat,
}

/// Output of reports (inspect, consent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// The token file saved by `login --save` (or an earlier `refresh`); it is rewritten with the
    /// new tokens. Refresh goes back to the authority and cloud recorded in it. With --profile,
    /// the file is imported: the rotated tokens go into the profile (the file's refresh token
    /// stops working).
    #[arg(long, value_name = "FILE", conflicts_with = "all")]
    pub from: Option<PathBuf>,

    /// The profile to refresh (the rotated refresh token is written back to it).
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    pub profile: Option<String>,

    /// Refresh every profile in the store: one NDJSON line each, a summary on stderr, exit 8 if
    /// some failed.
    #[arg(long)]
    pub all: bool,

    /// With --all: how many profiles are refreshed at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256), requires = "all")]
    pub concurrency: u32,

    /// With --all: seconds allowed per profile.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600), requires = "all")]
    pub deadline: u64,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Output format on stdout (not with --all, which prints NDJSON).
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// text (a table, default) or json.
    #[arg(long, short = 'o', value_enum, default_value_t = ReportFormat::Text)]
    pub output: ReportFormat,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The profile to delete.
    #[arg(long, value_name = "NAME")]
    pub profile: String,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ConsentArgs {
    /// The application (client) ID of the multi-tenant app.
    #[arg(long, env = "AZURE_CLIENT_ID", hide_env_values = true)]
    pub client_id: Option<String>,

    /// The customer's tenant (GUID or domain); default: organizations (any work account's admin).
    #[arg(long, env = "AZURE_TENANT_ID", hide_env_values = true)]
    pub tenant: Option<String>,

    /// The Defender docs' v1 link (common/oauth2/authorize?prompt=consent...) instead of v2 /adminconsent.
    #[arg(long)]
    pub v1: bool,

    /// The scope to consent to (v2).
    #[arg(
        long,
        value_name = "S",
        default_value = "https://api.securitycenter.microsoft.com/.default"
    )]
    pub scope: String,

    /// Where Entra sends the admin after consenting (must be registered on the app).
    #[arg(
        long,
        value_name = "URI",
        default_value = "http://localhost/SiemMsspConnector"
    )]
    pub redirect_uri: String,

    /// Open the link, catch the redirect on the loopback listener and report the result.
    #[arg(long)]
    pub listen: bool,

    /// Listen on this port (with --listen).
    #[arg(long, value_name = "N", requires = "listen", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Do not open a browser (with --listen): print the link and wait.
    #[arg(long, requires = "listen")]
    pub no_browser: bool,

    /// Command that opens the link (with --listen).
    #[arg(long, value_name = "CMD", requires = "listen")]
    pub browser_command: Option<String>,

    /// Seconds to wait for the admin (with --listen).
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub wait: u64,

    /// The cloud: its login host, API hosts and token audiences.
    #[arg(long, value_enum, default_value_t = CloudArg::Public)]
    pub cloud: CloudArg,

    /// Login host to use instead of the cloud's.
    #[arg(
        long,
        value_name = "URL",
        env = "AZURE_AUTHORITY_HOST",
        hide_env_values = true
    )]
    pub authority: Option<String>,

    /// text (default) or json.
    #[arg(long, short = 'o', value_enum, default_value_t = ReportFormat::Text)]
    pub output: ReportFormat,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The API path (e.g. /api/alerts?$top=10) or a full https URL.
    #[arg(value_name = "PATH_OR_URL")]
    pub path: String,

    #[command(flatten)]
    pub identity: IdentityArgs,

    /// Use the token saved in this file (by --save) instead of getting one by client credentials.
    #[arg(long, value_name = "FILE", conflicts_with = "profile")]
    pub token_file: Option<PathBuf>,

    /// Use this profile's delegated token (refreshed for the API's audience when needed).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// GDAP: a delegated token in --tenant redeemed with this partner profile's refresh token.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["profile", "token_file"])]
    pub partner: Option<String>,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Which API: its host in the cloud, the token audience, the roles its paths need.
    #[arg(long, value_enum, default_value_t = ApiArg::Mde)]
    pub api: ApiArg,

    /// Same as --api xdr (the Defender XDR API, api.security.microsoft.com).
    #[arg(long, conflicts_with = "api")]
    pub xdr: bool,

    /// The API base URL to use instead of the cloud's (e.g. a regional host or the sandbox).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// HTTP method.
    #[arg(long, short = 'X', value_name = "METHOD", default_value = "GET")]
    pub method: String,

    /// JSON body, or @FILE to read it from a file.
    #[arg(long, short = 'd', value_name = "JSON")]
    pub data: Option<String>,

    /// Follow @odata.nextLink and print every page's items as one "value" array.
    #[arg(long)]
    pub all: bool,

    /// With --all: stop after this many pages.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_pages: u32,

    /// Always ask Entra for the token; neither read nor write the token cache.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Args)]
pub struct OnboardArgs {
    /// TOML ([defaults], [[tenant]]) or a plain list of tenant IDs/domains, one a line.
    #[arg(long, value_name = "FILE")]
    pub tenants: PathBuf,

    #[command(flatten)]
    pub identity: IdentityArgs,

    /// A role every tenant's token must carry (repeatable; the file's require_roles wins).
    #[arg(long, value_name = "ROLE")]
    pub require_role: Vec<String>,

    /// An API path to call with each tenant's token, e.g. '/api/alerts?$top=1'.
    #[arg(long, value_name = "PATH")]
    pub probe: Option<String>,

    /// The API the probe calls: its host in the cloud and the token audience.
    #[arg(long, value_enum, default_value_t = ApiArg::Mde)]
    pub api: ApiArg,

    /// Same as --api xdr.
    #[arg(long, conflicts_with = "api")]
    pub xdr: bool,

    /// API base URL for the probe (default: the API's host in the cloud).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Tenants processed at once.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,

    /// Seconds one tenant may take, retries included.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub deadline: u64,

    /// Attempts per request on 429, 5xx and connection errors (with backoff, jitter and Retry-After).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub retries: u32,

    /// At most this many requests per second in all (keeps a large run under Entra's throttling).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rps: Option<u32>,

    /// Write the NDJSON report to FILE (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Run only the K-th of N slices of the tenant list (1-based), e.g. 2/8 in a CI matrix.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,

    /// Run only the tenants that failed in an earlier report.
    #[arg(long, value_name = "REPORT")]
    pub only_failed: Option<PathBuf>,

    /// GDAP: each tenant's token is this partner profile's refresh token redeemed there (a
    /// delegated token); the report says which roles (wids) and permissions (scp) it carries.
    #[arg(long, value_name = "NAME")]
    pub partner: Option<String>,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `collect --source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// Microsoft Graph security alerts (/v1.0/security/alerts_v2)
    GraphAlerts,
    /// Microsoft Graph security incidents (/v1.0/security/incidents, with their alerts)
    GraphIncidents,
    /// Defender for Endpoint alerts (/api/alerts)
    MdeAlerts,
    /// Defender XDR incidents (/api/incidents)
    XdrIncidents,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// TOML ([defaults], [[tenant]]) or a plain list of tenant IDs/domains, one a line (as for onboard).
    #[arg(long, value_name = "FILE")]
    pub tenants: PathBuf,

    /// What to collect (repeatable).
    #[arg(long, value_enum, value_name = "S", required = true)]
    pub source: Vec<SourceArg>,

    /// The state folder: one cursor per tenant and source (created 0700 if missing).
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,

    /// Where a first run starts: a duration back from now (24h, 7d) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN", default_value = "24h")]
    pub since: String,

    /// Append the NDJSON records to FILE (fsynced before a cursor moves) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Write one NDJSON result line per tenant to FILE (atomically), for `report merge`.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    #[command(flatten)]
    pub identity: IdentityArgs,

    /// API base URL that replaces every source's host (the sandbox serves them all on one port).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Tenants collected at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,

    /// Seconds one tenant may take, all its sources, pages and retries included.
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub deadline: u64,

    /// Attempts per request on 429, 5xx and connection errors (with backoff, jitter and Retry-After).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub retries: u32,

    /// Records asked per page (default and maximum: the API's, 1000 Graph, 10000 MDE, 100 XDR).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub page_size: Option<u32>,

    /// Run only the K-th of N slices of the tenant list (1-based), e.g. 2/8 in a CI matrix.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,

    /// Always ask Entra for the tokens; neither read nor write the token cache.
    #[arg(long)]
    pub no_cache: bool,

    /// At most this many requests per second in all (on top of each API's budget per tenant).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rps: Option<u32>,

    /// GDAP: each tenant's token is this partner profile's refresh token redeemed there.
    #[arg(long, value_name = "NAME")]
    pub partner: Option<String>,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge the reports of N shards (`onboard --report`, `collect --report`) into one: the
    /// lines on stdout, one summary on stderr, exit 8 if any tenant failed.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' report files.
    #[arg(value_name = "REPORT", required = true)]
    pub reports: Vec<PathBuf>,

    /// The number of shards the run had: a different number of reports is an error (a lost shard).
    #[arg(long, value_name = "N")]
    pub expect_shards: Option<u32>,

    /// Write the merged report to FILE (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}
