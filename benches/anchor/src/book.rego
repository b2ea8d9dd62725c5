# The whole-book form (the default, `--mode book`) of the rules in rules.rego: the same MC002,
# MC003, MC012 and dangling `customer` checks, written the way a Rego user writes rules over a
# book of documents: partial set rules that iterate the documents of a kind, evaluated with one
# `eval_rule` call per chunk of documents instead of once per document.
#
# `data.docs.<kind>` holds every document of the book, by kind; `data.index` the lookups built
# in Rust (src/main.rs), as in rules.rego. The subject documents are `input.docs` (same shape)
# when the book is split between threads (each thread evaluates its chunk), else `data.docs`.
#
# Every finding carries `at`: [kind, position of its document in the chunk], so findings of two
# documents with the same id stay two findings, as in channelguard and in the per-document form.
package anchor

import rego.v1

index := data.index

subjects := input.docs if {
	input.docs
} else := data.docs

# Every finding: one set per rule (`ANCHOR_RULE=data.anchor.mc012` evaluates one alone).
findings := ((mc002 | mc003) | mc012) | dangling_customer

subscriptions := object.get(subjects, "Subscription", [])

transfers := object.get(subjects, "Transfer", [])

# ---------------------------------------------------------------------------------------------
# MC002: a license-based subscription managed by a partner needs that partner's accepted
# reseller relationship with the customer (accepted by a Global admin), and with
# require_admin_rights (on by default) an active DAP or GDAP relationship.

# Position of each subscription MC002 applies to -> [its manager's relationships with the
# customer, the accepted ones]. Like channelguard (S004), MC002 is not evaluated on a
# subscription whose `customer` names no Customer.
mc002_subjects[i] := [rels, accepted] if {
	some i, s in subscriptions
	s.billing_model == "license"
	manager := s.managed_by
	manager != null
	index.customers[s.customer]
	rels := [r |
		some r in object.get(index.reseller_relationships, s.customer, [])
		r.partner == manager
	]
	accepted := [r | some r in rels; r.status == "accepted"]
}

mc002 contains {"rule": "MC002", "severity": "error", "id": s.id, "at": ["Subscription", i], "why": "no relationship"} if {
	some i, pair in mc002_subjects
	rels := pair[0]
	count(rels) == 0
	s := subscriptions[i]
}

mc002 contains {"rule": "MC002", "severity": "error", "id": s.id, "at": ["Subscription", i], "why": "not accepted"} if {
	some i, pair in mc002_subjects
	rels := pair[0]
	accepted := pair[1]
	count(rels) > 0
	count(accepted) == 0
	s := subscriptions[i]
}

mc002 contains {"rule": "MC002", "severity": "error", "id": s.id, "at": ["Subscription", i], "why": "not a global admin"} if {
	some i, pair in mc002_subjects
	accepted := pair[1]
	role := accepted[0].accepted_by_role
	role != null
	role != "global_admin"
	s := subscriptions[i]
}

mc002 contains {"rule": "MC002", "severity": "warning", "id": s.id, "at": ["Subscription", i], "why": "no admin rights"} if {
	data.settings.require_admin_rights
	some i, pair in mc002_subjects
	accepted := pair[1]
	count(accepted) > 0
	s := subscriptions[i]
	not mc002_admin(s)
}

mc002_admin(s) if {
	some d in object.get(index.delegated_admins, s.customer, [])
	d.partner == s.managed_by
	d.status == "active"
}

# ---------------------------------------------------------------------------------------------
# MC003: a license-based CSP subscription named by a transfer that moves it to another partner
# before the end of its term.

mc003_moved_on(t) := d if {
	d := t.effective_on
	d != null
} else := d if {
	d := t.requested_on
	d != null
} else := index.today

mc003_source(t, sub) := s if {
	s := t.source_partner
	s != null
} else := object.get(sub, "partner_of_record", null)

# [position of the transfer, subscription id] of each subscription a transfer moves mid-term by
# another path than cancel-and-repurchase.
mc003_moved contains [i, id] if {
	some i, t in transfers
	t.method != "cloud_migration"
	t.method != "cancel_and_repurchase"
	some id in object.get(t, "subscriptions", [])
	sub := index.subscriptions[id]
	sub.billing_model == "license"
	sub.channel == "csp"
	mc003_source(t, sub) != object.get(t, "target_partner", null)
	end := sub.end_date
	end != null
	mc003_moved_on(t) < end
	not sub.status in {"canceled", "expired"}
}

mc003 contains {"rule": "MC003", "severity": "warning", "id": t.id, "at": ["Transfer", i], "sub": id} if {
	some [i, id] in mc003_moved
	object.get(index.subscriptions[id], "commerce", null) == null
	t := transfers[i]
}

mc003 contains {"rule": "MC003", "severity": "info", "id": t.id, "at": ["Transfer", i], "sub": id} if {
	some [i, id] in mc003_moved
	index.subscriptions[id].commerce == "legacy"
	t := transfers[i]
	t.method == "legacy_license_transfer"
	t.status == "complete"
}

mc003 contains {"rule": "MC003", "severity": "error", "id": t.id, "at": ["Transfer", i], "sub": id} if {
	some [i, id] in mc003_moved
	index.subscriptions[id].commerce == "legacy"
	t := transfers[i]
	t.method != "legacy_license_transfer"
}

mc003 contains {"rule": "MC003", "severity": "error", "id": t.id, "at": ["Transfer", i], "sub": id} if {
	some [i, id] in mc003_moved
	index.subscriptions[id].commerce == "new_commerce"
	t := transfers[i]
	not t.method in {"azure_legacy_switch", "azure_plan_transfer", "nce_license_transfer"}
}

mc003 contains {"rule": "MC003", "severity": "error", "id": t.id, "at": ["Transfer", i], "sub": id} if {
	not data.settings.allow_nce_license_transfer
	some [i, id] in mc003_moved
	index.subscriptions[id].commerce == "new_commerce"
	t := transfers[i]
	t.method == "nce_license_transfer"
}

# ---------------------------------------------------------------------------------------------
# MC012: an indirect reseller never transacts; a reseller of record needs an active partnership
# with the partner of record, accepted before the subscription started.

mc012 contains {"rule": "MC012", "severity": "error", "id": s.id, "at": ["Subscription", i], "why": "reseller of record"} if {
	some i, s in subscriptions
	index.partners[s.partner_of_record].csp_role == "indirect_reseller"
}

# Position of each subscription naming a reseller PartnerID other than its provider's own, that
# some partner has -> [the enrolled partners with that PartnerID, the provider's partnerships
# with them].
mc012_resold[i] := [enrolled, partnerships] if {
	some i, s in subscriptions
	pid := s.reseller_partner_id
	pid != null
	provider := index.partners[s.partner_of_record]
	not provider.csp_role == "indirect_reseller"
	not pid == provider.partner_id
	candidates := object.get(index.partners_by_partner_id, pid, [])
	count(candidates) > 0
	enrolled := {p.id |
		some p in candidates
		not p.csp_role in {"advisor", "none"}
	}
	partnerships := [p |
		some p in object.get(index.partnerships_by_provider, provider.id, [])
		p.reseller in enrolled
	]
}

mc012 contains {"rule": "MC012", "severity": "error", "id": s.id, "at": ["Subscription", i], "why": "not enrolled"} if {
	some i, pair in mc012_resold
	enrolled := pair[0]
	count(enrolled) == 0
	s := subscriptions[i]
}

mc012 contains {"rule": "MC012", "severity": "error", "id": s.id, "at": ["Subscription", i], "why": "no partnership"} if {
	some i, pair in mc012_resold
	enrolled := pair[0]
	partnerships := pair[1]
	count(enrolled) > 0
	count(partnerships) == 0
	s := subscriptions[i]
}

mc012 contains {"rule": "MC012", "severity": "error", "id": s.id, "at": ["Subscription", i], "why": "partnership not in force"} if {
	some i, pair in mc012_resold
	partnerships := pair[1]
	count(partnerships) > 0
	s := subscriptions[i]
	not mc012_partnership_in_force(s, partnerships)
}

mc012_partnership_in_force(s, partnerships) if {
	some p in partnerships
	mc012_accepted_in_time(s, p)
	mc012_still_there(s, p)
}

mc012_accepted_in_time(s, p) if {
	not p.status == "requested"
	object.get(s, "start_date", null) == null
} else if {
	not p.status == "requested"
	object.get(p, "accepted_on", null) == null
} else if {
	not p.status == "requested"
	p.accepted_on <= s.start_date
}

mc012_still_there(s, p) if {
	p.status == "active"
} else if {
	p.status == "removed"
	s.start_date != null
	p.removed_on != null
	s.start_date < p.removed_on
}

mc012 contains {"rule": "MC012", "severity": "error", "id": t.id, "at": ["Transfer", i], "why": field} if {
	some i, t in transfers
	some field in ["target_partner", "source_partner"]
	partner := index.partners[t[field]]
	partner.csp_role == "indirect_reseller"
}

# ---------------------------------------------------------------------------------------------
# A `customer` field that names no Customer document, in a document of any kind.

dangling_customer contains {"rule": "dangling-customer", "severity": "error", "id": d.id, "at": [kind, i]} if {
	some kind, docs in subjects
	some i, d in docs
	c := d.customer
	is_string(c)
	not index.customers[c]
}
