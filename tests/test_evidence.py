"""A finding's evidence as the labelled lines the ticket page shows staff."""

from web.evidence import evidence_rows


def test_match_evidence_reads_as_sentences_without_repeating_the_finding() -> None:
    rows = dict(
        evidence_rows(
            {
                "account_id": 2,
                "account_ref": "MJ-PRU",
                "account_name": "Prudential Financial",
                "method": "domain",
                "score": 100.0,
                "matched_on": "prudential.com",
                "reasons": ["domain agrees", "PC count differs"],
                "segment": "major",
                "mcs_owner_email": "owner@example.com",
            }
        )
    )
    # Name, ref, method and score are the finding's own lines above the evidence.
    assert rows == {
        "Matched on": "prudential.com",
        "Why it matched": "domain agrees, PC count differs",
        "Account segment": "Major",
        "MCS owner e-mail": "owner@example.com",
    }


def test_values_are_formatted_for_people() -> None:
    rows = dict(
        evidence_rows(
            {
                "pc_count": 12000,
                "estimated_value": 250000,
                "dotnet_early_adoption": False,
                "overridden_by": None,
                "partner_registration_ids": [4, 9],
                "overlapping_workloads": ["sql_server"],
                "other_submitted_at": "2026-11-23T13:00:00+00:00",
                "possible_account": {
                    "account_name": "Contoso Ltd",
                    "account_ref": "C-1",
                    "method": "fuzzy",
                    "score": 84.25,
                },
                "new_key_of_a_later_rule": "kept",
            }
        )
    )
    assert rows == {
        "PCs registered": "12,000",
        "Estimated value": "$250,000",
        "Early .NET adoption": "No",
        "Overridden by": "—",
        "Partner registrations on this customer": "#4, #9",
        "Overlapping workloads": "SQL Server",
        "Other registration submitted": "2026-11-23 13:00 UTC",
        "Resembles the named account": (
            "Contoso Ltd (C-1), matched by name similarity, score 84.2 of 100"
        ),
        "New key of a later rule": "kept",
    }


def test_no_evidence_is_no_lines() -> None:
    assert evidence_rows(None) == [] and evidence_rows({}) == []


def test_scores_read_without_a_needless_decimal() -> None:
    rows = dict(evidence_rows({"match_score_needed": 92.0, "review_score": 84.25}))
    assert rows["Score needed to count as the account"] == "92"
    assert "84.2" in rows.values()
