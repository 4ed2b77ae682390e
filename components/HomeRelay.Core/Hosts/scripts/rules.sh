#!/bin/bash
# The home's policy rules, shared by its hook (which makes them) and by apply and remove (which may have to clear
# them). The renderer puts the settings (RULE_PRIORITIES among them) in front of this.
# shellcheck shell=bash

# drop_rules: every rule at our priorities, both families, whoever left them (the hook, or an apply that failed
# half-way).
drop_rules() {
	local pref family
	for family in -4 -6; do
		for pref in "${RULE_PRIORITIES[@]}"; do
			# Each pass removes one rule; the loop ends when none is left at that priority.
			while ip "$family" rule del pref "$pref" 2>/dev/null; do :; done
		done
	done
}
