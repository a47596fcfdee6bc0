"""An os-ken app that reports, one JSON object per line on stdout, what a controller sees of a
switch: the FEATURES_REPLY, the switch entering MAIN state (HELLO -> FEATURES -> PORT_DESC done),
the port list os-ken built from PORT_DESC, and every PORT_STATUS.

Run with Debian's os-ken:
  /usr/bin/osken-manager --ofp-listen-host 127.0.0.1 --ofp-tcp-listen-port PORT handshake_app.py
"""
import json
import sys

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.ofproto import ofproto_v1_3


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


class HandshakeReporter(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def features(self, ev):
        msg = ev.msg
        emit(event="features", dpid=msg.datapath_id, n_buffers=msg.n_buffers,
             n_tables=msg.n_tables, capabilities=msg.capabilities)

    @set_ev_cls(ofp_event.EventOFPStateChange, MAIN_DISPATCHER)
    def main(self, ev):
        dp = ev.datapath
        ports = sorted((p.port_no, p.name.decode() if isinstance(p.name, bytes) else p.name)
                       for p in dp.ports.values())
        emit(event="main", dpid=dp.id, ports=ports)

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def port_status(self, ev):
        msg = ev.msg
        name = msg.desc.name
        emit(event="port_status", reason=msg.reason, port_no=msg.desc.port_no,
             name=name.decode() if isinstance(name, bytes) else name, state=msg.desc.state)
