//! The ThingsBoard device and gateway API over MQTT: what a PUBLISH from a
//! device means, shared by the embedded endpoint ([`crate::server`]) and
//! the external-broker client ([`crate::external`]).
//!
//! Malformed payloads are dropped with a counted, logged reason (metric
//! `yufu_mqtt_dropped_total{reason}`); the connection stays up, and a QoS 1
//! publish is still acknowledged so the device does not resend garbage.

use std::sync::Arc;

use bytes::Bytes;
use yufu_devapi::{
    GatewayDevice, RpcResponse, TelemetrySample, Topic, attributes_response_payload, meter_report,
    parse_attributes, parse_gateway_telemetry, parse_telemetry,
};

use crate::ingest::{AckTo, Ingest};
use crate::presence::Transport;
use crate::registry::{Identity, MeterInfo, Registry};
use crate::routes::{Link, MqttLink, Routes};

/// What a connection task is asked to send.
#[derive(Debug)]
pub enum Outbound {
    /// A publish to the client (delivered if it subscribed to the topic).
    Publish {
        topic: String,
        payload: Bytes,
    },
    PubAck(u16),
    /// Close the connection (e.g. its readings could not be stored).
    Close,
}

/// Counts and logs a dropped message.
pub(crate) fn dropped(reason: &'static str, who: &str, detail: &dyn std::fmt::Display) {
    metrics::counter!("yufu_mqtt_dropped_total", "reason" => reason).increment(1);
    tracing::warn!(reason, client = who, %detail, "MQTT message dropped");
}

/// Shared by every MQTT connection.
#[derive(Debug, Clone)]
pub struct Handler {
    pub registry: Arc<Registry>,
    pub ingest: Ingest,
    pub routes: Arc<Routes>,
}

impl Handler {
    /// Handles one publish on a device-side topic (`topic` without any
    /// broker prefix). `ack` is answered once the publish is dealt with.
    pub async fn publish(
        &self,
        who: &Identity,
        link: &MqttLink,
        topic: &str,
        payload: &[u8],
        ack: Option<AckTo>,
    ) {
        let label = match who {
            Identity::Meter(m) => m.serial.as_str(),
            Identity::Gateway { name, .. } => name.as_str(),
        };
        let parsed = match Topic::parse(topic) {
            Ok(t) => t,
            Err(e) => {
                dropped("unknown_topic", label, &e);
                return self.done(ack).await;
            }
        };
        match (who, parsed) {
            (Identity::Meter(meter), Topic::DeviceTelemetry) => match parse_telemetry(payload) {
                Ok(samples) => {
                    self.samples(meter, Transport::Mqtt, &samples, ack, label)
                        .await;
                }
                Err(e) => {
                    dropped("malformed_payload", label, &e);
                    self.done(ack).await;
                }
            },
            (Identity::Meter(meter), Topic::DeviceAttributes) => match parse_attributes(payload) {
                Ok(values) => {
                    let sample = TelemetrySample {
                        ts_ms: None,
                        values,
                    };
                    self.samples(meter, Transport::Mqtt, &[sample], ack, label)
                        .await;
                }
                Err(e) => {
                    dropped("malformed_payload", label, &e);
                    self.done(ack).await;
                }
            },
            (Identity::Meter(_), Topic::DeviceRpcResponse(id)) => {
                match RpcResponse::parse_device(id, payload) {
                    Ok(r) => {
                        let reply = r.command_reply().map_err(|e| e.to_string());
                        if !self.routes.complete(id, reply) {
                            dropped("unexpected_rpc_reply", label, &format!("id {id}"));
                        }
                    }
                    Err(e) => dropped("malformed_payload", label, &e),
                }
                self.done(ack).await;
            }
            (Identity::Meter(_), Topic::DeviceAttributesRequest(id)) => {
                // Yufu keeps no shared attributes for meters yet: answer
                // with empty sets so firmware waiting for a reply goes on.
                let _ = link.tx.send(Outbound::Publish {
                    topic: format!("{}{}", link.prefix, Topic::DeviceAttributesResponse(id)),
                    payload: attributes_response_payload(&Vec::new(), &Vec::new()).into(),
                });
                self.done(ack).await;
            }
            (Identity::Meter(_), Topic::DeviceRpcRequest(id)) => {
                // Client-side RPC: the one method ThingsBoard's examples use.
                let body = match serde_json::from_slice::<serde_json::Value>(payload) {
                    Ok(v) if v.get("method").and_then(|m| m.as_str()) == Some("getCurrentTime") => {
                        serde_json::json!({ "time": jiff::Timestamp::now().as_millisecond() })
                    }
                    Ok(_) => {
                        serde_json::json!({ "error": "unknown method; Yufu answers getCurrentTime" })
                    }
                    Err(e) => {
                        dropped("malformed_payload", label, &e);
                        return self.done(ack).await;
                    }
                };
                let _ = link.tx.send(Outbound::Publish {
                    topic: format!("{}{}", link.prefix, Topic::DeviceRpcResponse(id)),
                    payload: body.to_string().into_bytes().into(),
                });
                self.done(ack).await;
            }
            (Identity::Gateway { organisation, .. }, Topic::GatewayConnect) => {
                match GatewayDevice::parse(payload) {
                    Ok(d) => match self
                        .registry
                        .meter_by_serial(*organisation, &d.device)
                        .await
                    {
                        Ok(Some(meter)) => {
                            self.attach_behind(link, &meter, &d.device);
                            self.ingest.seen(meter.id, Transport::MqttGateway).await;
                        }
                        Ok(None) => dropped("unknown_device", label, &d.device),
                        Err(e) => dropped("store_unavailable", label, &e),
                    },
                    Err(e) => dropped("malformed_payload", label, &e),
                }
                self.done(ack).await;
            }
            (Identity::Gateway { organisation, .. }, Topic::GatewayDisconnect) => {
                match GatewayDevice::parse(payload) {
                    Ok(d) => {
                        if let Ok(Some(meter)) = self
                            .registry
                            .meter_by_serial(*organisation, &d.device)
                            .await
                        {
                            self.routes.detach(meter.id, link.conn);
                        }
                    }
                    Err(e) => dropped("malformed_payload", label, &e),
                }
                self.done(ack).await;
            }
            (Identity::Gateway { organisation, .. }, Topic::GatewayTelemetry) => {
                let devices = match parse_gateway_telemetry(payload) {
                    Ok(d) => d,
                    Err(e) => {
                        dropped("malformed_payload", label, &e);
                        return self.done(ack).await;
                    }
                };
                for (device, samples) in devices {
                    match self.registry.meter_by_serial(*organisation, &device).await {
                        Ok(Some(meter)) => {
                            self.attach_behind(link, &meter, &device);
                            self.samples(&meter, Transport::MqttGateway, &samples, None, label)
                                .await;
                        }
                        Ok(None) => dropped("unknown_device", label, &device),
                        Err(e) => dropped("store_unavailable", label, &e),
                    }
                }
                self.done(ack).await;
            }
            (Identity::Gateway { .. }, Topic::GatewayRpc) => {
                match RpcResponse::parse_gateway(payload) {
                    Ok(r) => {
                        let reply = r.command_reply().map_err(|e| e.to_string());
                        if !self.routes.complete(r.id, reply) {
                            dropped("unexpected_rpc_reply", label, &format!("id {}", r.id));
                        }
                    }
                    // Our own request echoed by an external broker.
                    Err(_) if payload_has_data_request(payload) => {}
                    Err(e) => dropped("malformed_payload", label, &e),
                }
                self.done(ack).await;
            }
            (
                Identity::Gateway { .. },
                Topic::GatewayAttributes | Topic::GatewayAttributesRequest | Topic::GatewayClaim,
            )
            | (Identity::Meter(_), Topic::DeviceClaim) => {
                // Accepted and not used (yet): claiming and attributes.
                self.done(ack).await;
            }
            (_, t) => {
                dropped("wrong_topic_for_token", label, &t);
                self.done(ack).await;
            }
        }
    }

    fn attach_behind(&self, link: &MqttLink, meter: &MeterInfo, device: &str) {
        let needs = match self.routes.link(meter.id) {
            Some(Link::Mqtt(l)) => l.conn != link.conn,
            _ => true,
        };
        if needs {
            self.routes.attach(
                meter.id,
                Link::Mqtt(MqttLink {
                    gateway_device: Some(device.to_owned()),
                    ..link.clone()
                }),
            );
        }
    }

    async fn samples(
        &self,
        meter: &Arc<MeterInfo>,
        via: Transport,
        samples: &[TelemetrySample],
        mut ack: Option<AckTo>,
        label: &str,
    ) {
        let reports: Vec<_> = samples
            .iter()
            .filter_map(|sample| match meter_report(sample) {
                Ok(report) if report.is_empty() => None,
                Ok(report) => Some(report),
                Err(e) => {
                    dropped("bad_value", label, &e);
                    None
                }
            })
            .collect();
        let n = reports.len();
        if n == 0 {
            self.ingest.seen(meter.id, via).await;
        }
        for (i, report) in reports.into_iter().enumerate() {
            // The ack rides on the last report of the publish: one message
            // into the funnel per report, none extra for the ack.
            let a = if i + 1 == n { ack.take() } else { None };
            self.ingest.report(Arc::clone(meter), via, report, a).await;
        }
        if let Some(a) = ack.take() {
            self.ingest.ack(a).await;
        }
    }

    async fn done(&self, ack: Option<AckTo>) {
        if let Some(a) = ack {
            self.ingest.ack(a).await;
        }
    }
}

fn payload_has_data_request(payload: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .is_some_and(|v| v.get("data").and_then(|d| d.get("method")).is_some())
}
