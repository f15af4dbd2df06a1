# SPDX-License-Identifier: Apache-2.0
"""``libedge demo``: a LibEdge box with everything around it simulated, and the real daemon.

The stack (``stack``) runs the ILS simulator, three simulated FEIG readers on ptys, mosquitto
and the catalog gateway when mosquitto is installed, and the daemon with its pages; the props
(``props``) are the tagged items a person moves between the pads and the gate from the staff
page's demo controls. Nothing here is used by a production box.
"""

from edge_service.demo.broker import BrokerUnavailable, demo_broker, find_mosquitto
from edge_service.demo.props import FIELDS, PLACES, WALK_S, DemoProps, Prop, sample_props
from edge_service.demo.stack import (
    PAGE_ROLES,
    DemoOptions,
    DemoUnavailable,
    RunningDemo,
    demo_stack,
    sample_catalog,
)

__all__ = ["FIELDS", "PAGE_ROLES", "PLACES", "WALK_S", "BrokerUnavailable", "DemoOptions",
           "DemoProps", "DemoUnavailable", "Prop", "RunningDemo", "demo_broker", "demo_stack",
           "find_mosquitto", "sample_catalog", "sample_props"]
