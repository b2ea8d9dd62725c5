# Rego equivalents of channelguard's MC002, MC003 and MC012 and of its dangling `customer`
# reference check (benches/anchor/README.md lists what is equivalent and what is not).
#
# `input` is one document; `data.index` holds the lookups channelguard's policy API offers,
# built once in Rust before evaluation (src/main.rs): partners and subscriptions by id, the
# customers' ids, reseller relationships and delegated admins by customer, partners by
# PartnerID, indirect partnerships by provider, and the evaluation date.
package anchor

import rego.v1

# A field's value, or null when it is missing (channelguard's `()` for both).
get(o, k) := object.get(o, k, null)

index := data.index

findings contains f if {
	some f in mc002
}

findings contains f if {
	some f in mc003
}

findings contains f if {
	some f in mc012
}

findings contains f if {
	some f in dangling_customer
}

# ---------------------------------------------------------------------------------------------
# MC002: a license-based subscription managed by a partner needs that partner's accepted
# reseller relationship with the customer (accepted by a Global admin), and with
# require_admin_rights (on by default) an active DAP or GDAP relationship.

mc002_relationships := [r |
	some r in object.get(index.reseller_relationships, input.customer, [])
	get(r, "partner") == input.managed_by
]

mc002_accepted := [r | some r in mc002_relationships; get(r, "status") == "accepted"]

# Like channelguard (S004), MC002 is not evaluated on a document whose `customer` names no
# Customer: that document gets the dangling-reference finding instead.
mc002_applies if {
	input.kind == "Subscription"
	index.customers[input.customer]
	get(input, "billing_model") == "license"
	get(input, "managed_by") != null
}

mc002 contains {"rule": "MC002", "severity": "error", "id": input.id, "why": "no relationship"} if {
	mc002_applies
	count(mc002_relationships) == 0
}

mc002 contains {"rule": "MC002", "severity": "error", "id": input.id, "why": "not accepted"} if {
	mc002_applies
	count(mc002_relationships) > 0
	count(mc002_accepted) == 0
}

mc002 contains {"rule": "MC002", "severity": "error", "id": input.id, "why": "not a global admin"} if {
	mc002_applies
	role := get(mc002_accepted[0], "accepted_by_role")
	role != null
	role != "global_admin"
}

mc002 contains {"rule": "MC002", "severity": "warning", "id": input.id, "why": "no admin rights"} if {
	mc002_applies
	count(mc002_accepted) > 0
	data.settings.require_admin_rights
	not mc002_admin
}

mc002_admin if {
	some d in object.get(index.delegated_admins, input.customer, [])
	get(d, "partner") == input.managed_by
	get(d, "status") == "active"
}

# ---------------------------------------------------------------------------------------------
# MC003: a license-based CSP subscription named by a transfer that moves it to another partner
# before the end of its term.

mc003_moved_on := d if {
	d := get(input, "effective_on")
	d != null
} else := d if {
	d := get(input, "requested_on")
	d != null
} else := index.today

# The subscriptions this transfer moves mid-term by another path than cancel-and-repurchase.
mc003_moved contains [id, sub] if {
	input.kind == "Transfer"
	input.method != "cloud_migration"
	input.method != "cancel_and_repurchase"
	some id in object.get(input, "subscriptions", [])
	sub := index.subscriptions[id]
	get(sub, "billing_model") == "license"
	get(sub, "channel") == "csp"
	mc003_source(sub) != get(input, "target_partner")
	end := get(sub, "end_date")
	end != null
	mc003_moved_on < end
	not get(sub, "status") in {"canceled", "expired"}
}

mc003_source(sub) := s if {
	s := get(input, "source_partner")
	s != null
} else := get(sub, "partner_of_record")

mc003 contains {"rule": "MC003", "severity": "warning", "id": input.id, "sub": id} if {
	some [id, sub] in mc003_moved
	get(sub, "commerce") == null
}

mc003 contains {"rule": "MC003", "severity": "info", "id": input.id, "sub": id} if {
	some [id, sub] in mc003_moved
	sub.commerce == "legacy"
	input.method == "legacy_license_transfer"
	get(input, "status") == "complete"
}

mc003 contains {"rule": "MC003", "severity": "error", "id": input.id, "sub": id} if {
	some [id, sub] in mc003_moved
	sub.commerce == "legacy"
	input.method != "legacy_license_transfer"
}

mc003 contains {"rule": "MC003", "severity": "error", "id": input.id, "sub": id} if {
	some [id, sub] in mc003_moved
	sub.commerce == "new_commerce"
	not input.method in {"azure_legacy_switch", "azure_plan_transfer", "nce_license_transfer"}
}

mc003 contains {"rule": "MC003", "severity": "error", "id": input.id, "sub": id} if {
	some [id, sub] in mc003_moved
	sub.commerce == "new_commerce"
	input.method == "nce_license_transfer"
	not data.settings.allow_nce_license_transfer
}

# ---------------------------------------------------------------------------------------------
# MC012: an indirect reseller never transacts; a reseller of record needs an active partnership
# with the partner of record, accepted before the subscription started.

mc012_provider := index.partners[input.partner_of_record] if input.kind == "Subscription"

mc012 contains {"rule": "MC012", "severity": "error", "id": input.id, "why": "reseller of record"} if {
	mc012_provider.csp_role == "indirect_reseller"
}

# The reseller PartnerID to check, when there is one other than the provider's own.
mc012_reseller_pid := pid if {
	get(mc012_provider, "csp_role") != "indirect_reseller"
	pid := get(input, "reseller_partner_id")
	pid != null
	pid != get(mc012_provider, "partner_id")
}

mc012_candidates := object.get(index.partners_by_partner_id, mc012_reseller_pid, [])

mc012_enrolled := {p.id |
	some p in mc012_candidates
	not get(p, "csp_role") in {"advisor", "none"}
}

mc012 contains {"rule": "MC012", "severity": "error", "id": input.id, "why": "not enrolled"} if {
	count(mc012_candidates) > 0
	count(mc012_enrolled) == 0
}

mc012_partnerships := [p |
	some p in object.get(index.partnerships_by_provider, mc012_provider.id, [])
	get(p, "reseller") in mc012_enrolled
]

mc012 contains {"rule": "MC012", "severity": "error", "id": input.id, "why": "no partnership"} if {
	count(mc012_enrolled) > 0
	count(mc012_partnerships) == 0
}

mc012 contains {"rule": "MC012", "severity": "error", "id": input.id, "why": "partnership not in force"} if {
	count(mc012_partnerships) > 0
	not mc012_partnership_in_force
}

mc012_partnership_in_force if {
	some p in mc012_partnerships
	mc012_accepted_in_time(p)
	mc012_still_there(p)
}

mc012_accepted_in_time(p) if {
	get(p, "status") != "requested"
	get(input, "start_date") == null
} else if {
	get(p, "status") != "requested"
	get(p, "accepted_on") == null
} else if {
	get(p, "status") != "requested"
	p.accepted_on <= input.start_date
}

mc012_still_there(p) if {
	get(p, "status") == "active"
} else if {
	get(p, "status") == "removed"
	get(input, "start_date") != null
	get(p, "removed_on") != null
	input.start_date < p.removed_on
}

mc012 contains {"rule": "MC012", "severity": "error", "id": input.id, "why": field} if {
	input.kind == "Transfer"
	some field in ["target_partner", "source_partner"]
	partner := index.partners[get(input, field)]
	get(partner, "csp_role") == "indirect_reseller"
}

# ---------------------------------------------------------------------------------------------
# A `customer` field that names no Customer document.

dangling_customer contains {"rule": "dangling-customer", "severity": "error", "id": input.id} if {
	c := get(input, "customer")
	is_string(c)
	not index.customers[c]
}
