//! I1 on a linked workspace (issue 17): `GET /v1/stats` with each bot's
//! sent messages and subscribers as SendPulse counts them
//! (`GET /{app}/bots/statistics`: `outgoingMessagesTotalCount`,
//! `subscribedTotalCount`), and received messages as Rapport mirrored them
//! (SendPulse has no incoming count). Rapport's mirror holds only what
//! webhooks and reconcile passes brought since the link, and bot messages
//! sent by flows reach it only with a chat's history, so SendPulse's own
//! figures are the honest ones where it has them. SendPulse's answers are
//! kept for [`STATS_TTL`] per workspace, so phones refreshing the figures
//! cost the account one request per bot a minute at most.

use super::{GatewayError, api_error, ingest};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::hub::Workspace;
use rapport_core::model::{BotId, BotStats, StatsAt};
use rapport_sendpulse::client::BotStatistics;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long SendPulse's figures of a workspace's bots are reused.
pub const STATS_TTL: Duration = Duration::from_secs(60);

/// SendPulse's figures per workspace, by SendPulse bot id, and when they
/// were read.
pub(crate) struct Cache {
    pub ttl: Duration,
    pub entries: HashMap<String, (Instant, BTreeMap<String, BotStatistics>)>,
}

impl Default for Cache {
    fn default() -> Cache {
        Cache {
            ttl: STATS_TTL,
            entries: HashMap::new(),
        }
    }
}

/// SendPulse's figures of the workspace's bots (Rapport bot id, figures),
/// from the cache while it is fresh.
async fn sendpulse_figures(
    state: &Arc<AppState>,
    ws: &Arc<Workspace>,
) -> ApiResult<BTreeMap<String, BotStatistics>> {
    let fresh = {
        let cache = super::lock(&state.gateway.bot_stats);
        cache
            .entries
            .get(&ws.id)
            .filter(|(at, _)| at.elapsed() < cache.ttl)
            .map(|(_, f)| f.clone())
    };
    if let Some(f) = fresh {
        return Ok(f);
    }
    let (client, bots) = {
        let (st, w) = (state.clone(), ws.clone());
        tokio::task::spawn_blocking(move || -> Result<_, GatewayError> {
            let bots = w.store.bots().map_err(crate::hub::HubError::from)?;
            Ok((st.gateway.client(&st.hub, &w.id)?, bots))
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(api_error)?
    };
    let mut figures = BTreeMap::new();
    for b in bots {
        // A bot whose id was too long to keep is hashed and cannot be named.
        let Some(remote) = rapport_core::sendpulse::remote_id(b.id.as_str()) else {
            continue;
        };
        let f = client
            .bot_statistics(ingest::sp_app(b.app), remote)
            .await
            .map_err(|e| api_error(e.into()))?;
        figures.insert(b.id.0, f);
    }
    super::lock(&state.gateway.bot_stats)
        .entries
        .insert(ws.id.clone(), (Instant::now(), figures.clone()));
    Ok(figures)
}

/// I1 for a linked workspace: Rapport's recount at its head, with each
/// SendPulse bot's sent and subscribers taken from SendPulse.
pub async fn linked(state: &Arc<AppState>, ws: &Arc<Workspace>) -> ApiResult<StatsAt> {
    let figures = sendpulse_figures(state, ws).await?;
    let w = ws.clone();
    let mirrored = tokio::task::spawn_blocking(move || w.store.recount_stats())
        .await
        .map_err(ApiError::internal)??;
    Ok(merge(mirrored, &figures))
}

/// The mirror's figures with SendPulse's sent and subscribers per bot, and
/// the total summed again.
fn merge(mirrored: StatsAt, figures: &BTreeMap<String, BotStatistics>) -> StatsAt {
    let mut per: BTreeMap<String, BotStats> = mirrored
        .bots
        .into_iter()
        .filter_map(|b| Some((b.bot_id.clone()?.0, b)))
        .collect();
    for (id, f) in figures {
        let b = per.entry(id.clone()).or_insert_with(|| BotStats {
            bot_id: Some(BotId(id.clone())),
            ..Default::default()
        });
        b.sent = f.outgoing_total;
        b.subscribers = f.subscribed_total;
    }
    let mut total = BotStats::default();
    for b in per.values() {
        total.sent += b.sent;
        total.received += b.received;
        total.subscribers += b.subscribers;
    }
    StatsAt {
        seq: mirrored.seq,
        bots: std::iter::once(total).chain(per.into_values()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::model::Seq;

    #[test]
    fn sendpulse_gives_sent_and_subscribers_rapport_received_and_the_total_is_summed() {
        let bot = |id: &str, sent, received, subscribers| BotStats {
            bot_id: Some(BotId::from(id)),
            sent,
            received,
            subscribers,
        };
        let mirrored = StatsAt {
            seq: Seq(9),
            bots: vec![
                BotStats {
                    bot_id: None,
                    sent: 3,
                    received: 7,
                    subscribers: 3,
                },
                bot("sp-a", 2, 5, 2),
                bot("sp-b", 1, 2, 1),
            ],
        };
        let figures = BTreeMap::from([
            (
                "sp-a".to_owned(),
                BotStatistics {
                    subscribed_total: 40,
                    subscribed_active: 30,
                    outgoing_total: 100,
                },
            ),
            (
                "sp-c".to_owned(),
                BotStatistics {
                    subscribed_total: 1,
                    subscribed_active: 1,
                    outgoing_total: 0,
                },
            ),
        ]);
        let got = merge(mirrored, &figures);
        assert_eq!(got.seq, Seq(9));
        assert_eq!(
            got.bots,
            [
                BotStats {
                    bot_id: None,
                    sent: 101,
                    received: 7,
                    subscribers: 42,
                },
                bot("sp-a", 100, 5, 40),
                bot("sp-b", 1, 2, 1),
                bot("sp-c", 0, 0, 1),
            ]
        );
    }
}
