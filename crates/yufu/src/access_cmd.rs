//! `yufu user add`, `yufu token create`, `yufu audit verify`, `yufu keys
//! generate|rotate`: what an operator needs before the console exists (the
//! first admin) and for scripts. CLI mutations are audited like API ones,
//! with the actor `cli:$USER` and the source `cli`.

use std::sync::Arc;

use anyhow::Context as _;
use yufu_access::SiteScope;
use yufu_access::audit::NewAuditEntry;
use yufu_domain::{NewOrganisation, NewStaffUser, OrganisationId, Role, SiteId};
use yufu_store::Store;

use crate::config::Config;

/// The organisation a command acts in: an id, a name (created when new), or
/// the only one there is.
pub(crate) async fn organisation(
    store: &dyn Store,
    given: Option<&str>,
) -> anyhow::Result<OrganisationId> {
    if let Some(g) = given {
        if let Ok(id) = g.parse::<OrganisationId>() {
            return Ok(store.get_organisation(id).await?.id);
        }
        let name = g
            .parse()
            .map_err(|e| anyhow::anyhow!("--organisation: {e}"))?;
        if let Some(o) = store.find_organisation_by_name(&name).await? {
            return Ok(o.id);
        }
        let o = store.create_organisation(&NewOrganisation { name }).await?;
        audit(
            store,
            "create organisation",
            &format!("organisation:{}", o.id),
            None,
        )
        .await?;
        return Ok(o.id);
    }
    let orgs = store
        .list_organisations(&yufu_store::Page::first(2))
        .await?;
    match orgs.as_slice() {
        [one] => Ok(one.id),
        [] => anyhow::bail!("no organisation yet: pass --organisation NAME to create one"),
        _ => anyhow::bail!("several organisations: pass --organisation ID or NAME"),
    }
}

/// Appends one audit row for a CLI action, following the stored head (a
/// running server may append too; a clash on the next seq is retried).
pub(crate) async fn audit(
    store: &dyn Store,
    action: &str,
    target: &str,
    after: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let mut last_err = None;
    for _ in 0..5 {
        let head = store.access().audit_head().await?;
        let row = NewAuditEntry {
            at_ms: jiff::Timestamp::now().as_millisecond(),
            actor: actor.clone(),
            source: "cli".into(),
            action: format!("cli {action}"),
            target: target.to_owned(),
            before: None,
            after: after.as_ref().map(ToString::to_string),
            status: 0,
        }
        .chain(head.as_ref().map(|(s, h)| (*s, h.as_str())));
        match store.access().append_audit(&[row]).await {
            Ok(()) => return Ok(()),
            Err(e @ yufu_store::StoreError::Conflict(_)) => last_err = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(anyhow::anyhow!(
        "could not append to the audit log: {last_err:?}"
    ))
}

fn sites(list: &[String]) -> anyhow::Result<SiteScope> {
    if list.is_empty() {
        return Ok(SiteScope::All);
    }
    Ok(SiteScope::Only(
        list.iter()
            .flat_map(|s| s.split(','))
            .map(|s| {
                s.trim()
                    .parse::<SiteId>()
                    .map_err(|e| anyhow::anyhow!("--sites: {e}"))
            })
            .collect::<anyhow::Result<_>>()?,
    ))
}

/// `yufu user add --role ROLE NAME`: prints the generated password once.
#[allow(clippy::print_stdout)]
pub async fn user_add(
    config: Config,
    name: &str,
    role: &str,
    organisation_arg: Option<&str>,
    site_list: &[String],
    display_name: Option<&str>,
) -> anyhow::Result<()> {
    let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    let scope = sites(site_list)?;
    let (store, _) = crate::run::open_and_migrate(&config).await?;
    let org = organisation(store.as_ref(), organisation_arg).await?;
    let username = name
        .trim()
        .to_lowercase()
        .parse()
        .map_err(|e| anyhow::anyhow!("user name: {e}"))?;
    if store.find_staff_user(&username).await?.is_some() {
        anyhow::bail!("user {name} exists already");
    }
    let password = crate::password::generate(20)?;
    let hash = yufu_server::password::hash(password.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let user = store
        .create_staff_user(&NewStaffUser {
            organisation_id: org,
            username,
            display_name: display_name
                .unwrap_or(name)
                .parse()
                .map_err(|e| anyhow::anyhow!("display name: {e}"))?,
            role,
            password_hash: hash,
        })
        .await?;
    store
        .access()
        .update_staff_user(user.id, role, true, scope.to_stored().as_deref())
        .await?;
    audit(
        store.as_ref(),
        "user add",
        &format!("user:{}", user.id),
        Some(serde_json::json!({"username": user.username.to_string(), "role": role.as_str(), "sites": scope.to_list()})),
    )
    .await?;
    store.close().await;
    println!("user:     {}", user.username);
    println!("role:     {role}");
    println!("password: {password}");
    println!("(shown once; sign in and keep it safe)");
    Ok(())
}

/// `yufu token create --role ROLE [--sites …]`: prints the token only, so
/// scripts can capture it.
#[allow(clippy::print_stdout)]
pub async fn token_create(
    config: Config,
    role: &str,
    name: &str,
    organisation_arg: Option<&str>,
    site_list: &[String],
    days: u32,
) -> anyhow::Result<()> {
    let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    let scope = sites(site_list)?;
    let (store, _) = crate::run::open_and_migrate(&config).await?;
    let org = organisation(store.as_ref(), organisation_arg).await?;
    let (token, row) = yufu_server::access_api::issue_token(
        store.as_ref(),
        org,
        name,
        role,
        &scope,
        days,
        &format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        ),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    audit(
        store.as_ref(),
        "token create",
        &format!("token:{}", row.id),
        Some(
            serde_json::json!({"name": row.name, "role": role.as_str(), "sites": scope.to_list()}),
        ),
    )
    .await?;
    store.close().await;
    println!("{token}");
    Ok(())
}

/// `yufu audit verify`: exit code 0 when the chain is intact, 1 when not.
#[allow(clippy::print_stdout)]
pub async fn audit_verify(config: Config) -> anyhow::Result<bool> {
    let store = crate::run::open_store(&config).await?;
    let out = yufu_server::access_api::verify_audit(store.as_ref())
        .await
        .context("cannot read the audit log")?;
    store.close().await;
    if out.intact {
        println!(
            "audit log intact: {} rows; head seq {} hash {}",
            out.checked, out.head_seq, out.head_hash
        );
    } else {
        println!(
            "audit log BROKEN at seq {}: {} ({} rows verified before it; last good seq {} hash {})",
            out.broken_seq.unwrap_or_default(),
            out.reason.unwrap_or_default(),
            out.checked,
            out.head_seq,
            out.head_hash
        );
    }
    Ok(out.intact)
}

/// `yufu keys generate [--id ID]`: prints a new key line to append to the
/// key file.
#[allow(clippy::print_stdout)]
pub fn keys_generate(id: Option<&str>) -> anyhow::Result<()> {
    let id = id.map_or_else(
        || format!("k{}", jiff::Timestamp::now().strftime("%Y%m%d%H%M%S")),
        str::to_owned,
    );
    println!(
        "{}",
        yufu_store::Vault::generate_key_line(&id).map_err(|e| anyhow::anyhow!("{e}"))?
    );
    Ok(())
}

/// `yufu keys rotate`: re-seals every personal value under the key file's
/// last (active) key and recomputes the blind indexes.
#[allow(clippy::print_stdout)]
pub async fn keys_rotate(config: Config) -> anyhow::Result<()> {
    let (store, _) = crate::run::open_and_migrate(&config).await?;
    let vault: Arc<yufu_store::Vault> = crate::run::load_vault(&config)?;
    let report = store.reseal_personal_data().await?;
    // Portal tickets are sealed with the same key.
    let (tickets, tickets_resealed) = store.console().reseal_tickets().await?;
    audit(
        store.as_ref(),
        "keys rotate",
        &format!("key:{}", vault.active_key_id()),
        Some(serde_json::json!({
            "customers": report.customers,
            "resealed": report.resealed,
            "tickets": tickets,
            "tickets_resealed": tickets_resealed,
        })),
    )
    .await?;
    store.close().await;
    println!(
        "active key {}: {} customers checked, {} re-sealed; {} tickets checked, {} re-sealed",
        vault.active_key_id(),
        report.customers,
        report.resealed,
        tickets,
        tickets_resealed
    );
    Ok(())
}
