"""An OpenFlow 1.3 learning switch for os-ken, written for the tsvswitch end-to-end tests.

Behaviour, per datapath (switch):
  * When the switch connects (FEATURES_REPLY) it installs the table-miss flow: table 0,
    priority 0, empty match, APPLY_ACTIONS[OUTPUT CONTROLLER max_len NO_BUFFER], cookie 0.
  * Every PACKET_IN teaches it "source MAC -> input port" for that datapath.
  * If the destination MAC is known, it installs an exact flow (in_port, eth_src, eth_dst ->
    OUTPUT port) with cookie LEARNED_COOKIE, the idle/hard timeouts below and SEND_FLOW_REM,
    then sends the packet on with a PACKET_OUT. Otherwise it floods the packet (PACKET_OUT FLOOD).
  * LLDP frames are never learned nor forwarded.

Settings come from the environment (the tests set them):
  TC_LS_IDLE_TIMEOUT  idle timeout of learned flows in seconds (default 60)
  TC_LS_HARD_TIMEOUT  hard timeout of learned flows in seconds (default 0 = none)

It reports what it does as one JSON object per line on stdout, so a test can follow it:
  {"event": "ready", "dpid": N}          table-miss installed and confirmed by a barrier
  {"event": "learn", "dpid": N, "mac": "..", "port": P}
  {"event": "flow", "dpid": N, "in_port": P, "src": "..", "dst": "..", "out_port": Q}
  {"event": "flood", "dpid": N, "in_port": P, "src": "..", "dst": ".."}
  {"event": "removed", "dpid": N, "reason": R, "src": "..", "dst": ".."}
  {"event": "error", "dpid": N, "type": T, "code": C}

Run with Debian's os-ken:
  /usr/bin/osken-manager --ofp-listen-host 127.0.0.1 --ofp-tcp-listen-port PORT learning_switch.py
"""
import json
import os
import sys

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib.packet import ethernet, ether_types, packet
from os_ken.ofproto import ofproto_v1_3

#: Cookie of every flow this app learns (the table-miss flow has cookie 0).
LEARNED_COOKIE = 0x7C


def emit(**kw):
    """Writes one event line for the test that runs us."""
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def _int_env(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


class LearningSwitch13(app_manager.OSKenApp):
    """MAC learning per datapath with exact-match flows (see the module docstring)."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # dpid -> {mac: port}
        self.tables = {}
        self.idle_timeout = _int_env("TC_LS_IDLE_TIMEOUT", 60)
        self.hard_timeout = _int_env("TC_LS_HARD_TIMEOUT", 0)
        # xid of the barrier that follows the table-miss flow, per dpid
        self.pending_ready = {}

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_features(self, ev):
        dp = ev.msg.datapath
        ofp = dp.ofproto
        parser = dp.ofproto_parser
        # A (re)connected switch starts with a fresh MAC table: ports may have moved meanwhile.
        self.tables[dp.id] = {}
        miss = parser.OFPFlowMod(
            datapath=dp,
            table_id=0,
            priority=0,
            match=parser.OFPMatch(),
            instructions=[
                parser.OFPInstructionActions(
                    ofp.OFPIT_APPLY_ACTIONS,
                    [parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)],
                )
            ],
        )
        dp.send_msg(miss)
        barrier = parser.OFPBarrierRequest(dp)
        dp.set_xid(barrier)
        self.pending_ready[dp.id] = barrier.xid
        dp.send_msg(barrier)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def barrier_reply(self, ev):
        dp = ev.msg.datapath
        if self.pending_ready.get(dp.id) == ev.msg.xid:
            del self.pending_ready[dp.id]
            emit(event="ready", dpid=dp.id)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def error(self, ev):
        emit(event="error", dpid=ev.msg.datapath.id, type=ev.msg.type, code=ev.msg.code)

    @set_ev_cls(ofp_event.EventOFPFlowRemoved, MAIN_DISPATCHER)
    def flow_removed(self, ev):
        msg = ev.msg
        emit(
            event="removed",
            dpid=msg.datapath.id,
            reason=msg.reason,
            src=msg.match.get("eth_src"),
            dst=msg.match.get("eth_dst"),
        )

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, ev):
        msg = ev.msg
        dp = msg.datapath
        ofp = dp.ofproto
        parser = dp.ofproto_parser
        in_port = msg.match["in_port"]
        eth = packet.Packet(msg.data).get_protocol(ethernet.ethernet)
        if eth is None or eth.ethertype == ether_types.ETH_TYPE_LLDP:
            return
        src, dst = eth.src, eth.dst
        macs = self.tables.setdefault(dp.id, {})
        if macs.get(src) != in_port:
            macs[src] = in_port
            emit(event="learn", dpid=dp.id, mac=src, port=in_port)

        out_port = macs.get(dst)
        if out_port is None:
            emit(event="flood", dpid=dp.id, in_port=in_port, src=src, dst=dst)
            actions = [parser.OFPActionOutput(ofp.OFPP_FLOOD)]
        elif out_port == in_port:
            # The destination sits behind the port it came from: nothing to forward.
            return
        else:
            actions = [parser.OFPActionOutput(out_port)]
            flow = parser.OFPFlowMod(
                datapath=dp,
                cookie=LEARNED_COOKIE,
                table_id=0,
                priority=1,
                idle_timeout=self.idle_timeout,
                hard_timeout=self.hard_timeout,
                flags=ofp.OFPFF_SEND_FLOW_REM,
                match=parser.OFPMatch(in_port=in_port, eth_src=src, eth_dst=dst),
                instructions=[parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)],
            )
            dp.send_msg(flow)
            emit(event="flow", dpid=dp.id, in_port=in_port, src=src, dst=dst, out_port=out_port)

        data = msg.data if msg.buffer_id == ofp.OFP_NO_BUFFER else None
        dp.send_msg(
            parser.OFPPacketOut(
                datapath=dp,
                buffer_id=msg.buffer_id,
                in_port=in_port,
                actions=actions,
                data=data,
            )
        )
