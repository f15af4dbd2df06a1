# SPDX-License-Identifier: Apache-2.0
"""Build the configured circulation backend from the ``[circulation]`` section.

Not responsible for: connecting (the caller opens and closes the SIP2 client or MQTT client).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from edge_service.circulation.backend import CirculationBackend
from edge_service.circulation.mqtt_backend import MqttBackend, MqttLink
from edge_service.circulation.sip2_backend import Sip2Backend
from edge_service.config import CirculationConfig, ConfigError, NodeConfig
from edge_service.ils import Sip2Client, Sip2Profile

MS_PER_S = 1000


def sip2_profile_from_config(circ: CirculationConfig) -> Sip2Profile:
    """The SIP2 profile of ``circ``; the login password is read from ``sip2_password_file``."""
    password = ""
    if circ.sip2_password_file:
        try:
            password = Path(circ.sip2_password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError("circulation.sip2_password_file",
                              f"cannot read it: {exc.strerror}") from None
    return Sip2Profile.from_mapping({
        "host": circ.sip2_host, "port": circ.sip2_port, "name": circ.sip2_profile,
        "charset": circ.sip2_charset, "line_ending": circ.sip2_line_ending,
        "error_detection": circ.sip2_error_detection,
        "institution_id": circ.sip2_institution_id,
        **({"location_code": circ.sip2_location_code} if circ.sip2_location_code else {}),
        **({"login_user": circ.sip2_login_user} if circ.sip2_login_user else {}),
        "login_password": password, "patron_secret": circ.sip2_patron_secret,
        "timeout_s": circ.sip2_timeout_ms / MS_PER_S})


def sip2_ssl_context(circ: CirculationConfig) -> ssl.SSLContext | None:
    if not circ.sip2_tls:
        return None
    return ssl.create_default_context(cafile=circ.sip2_ca_file or None)


def backend_from_config(circ: CirculationConfig, node: NodeConfig, *,
                        mqtt_link: MqttLink | None = None) -> CirculationBackend:
    """``Sip2Backend`` over a not yet connected ``Sip2Client`` (``backend.sip2``), or an
    ``MqttBackend`` on ``mqtt_link`` (required then)."""
    if circ.backend == "sip2":
        client = Sip2Client(sip2_profile_from_config(circ), ssl=sip2_ssl_context(circ))
        return Sip2Backend(client, offline_no_block=circ.sip2_offline_no_block)
    if mqtt_link is None:
        raise ConfigError("circulation.backend", "mqtt needs the MQTT link ([mqtt] enabled)")
    return MqttBackend(mqtt_link, tenant=node.tenant, site=node.site, node=node.node,
                       timeout_s=circ.reply_timeout_ms / MS_PER_S)
