//! The work, reusable by any command. Each flow takes domain values and returns domain values;
//! none prints a result (the commands do), none knows a flag.
//!
//! - [`app_only`]: client credentials with the tenant check, through the token cache.
//! - [`auth_code`]: the authorization-code sign-in (login), over [`loopback`].
//! - [`device_code`]: the device code sign-in (login --device-code), polling until someone
//!   signs in on another device.
//! - [`loopback`]: the redirect catch shared by sign-in and admin consent: listener, browser,
//!   pasted addresses, the deadline.
//! - [`consent`]: admin-consent links and their round trip.
//! - [`refresh`]: redeeming a saved refresh token and writing the rotated one back.
//! - [`profile`]: profiles in use: saving a sign-in, a profile's identity and access token.
//! - [`keep_alive`]: `refresh --all`, every profile's session renewed, one line each.
//! - [`inventory`]: `status`, every profile of a store listed offline, attention first.
//! - [`pager`]: an API call with a token, `@odata.nextLink` paging, errors explained.
//! - [`fan_out`]: bounded concurrency with a deadline per item (one result per tenant).
//! - [`partner`]: GDAP: the partner's refresh token redeemed in each customer tenant.
//! - [`collect`]: every tenant's alerts and incidents as NDJSON, exactly once, with a cursor per
//!   tenant and source in a state folder.
//! - [`onboard`]: token, roles and probe for every tenant of a file, over [`fan_out`].

pub mod app_only;
pub mod auth_code;
pub mod collect;
pub mod consent;
pub mod device_code;
pub mod fan_out;
pub mod inventory;
pub mod keep_alive;
pub mod loopback;
pub mod merge;
pub mod onboard;
pub mod pager;
pub mod partner;
pub mod profile;
pub mod refresh;
