"""The one-policy, one-departed-person case the application tests scan (a critical finding)."""

DEPARTURE = """
id: ACC-001
kind: revoke_on_departure
title: Departed staff keep no enabled account
severity: critical
"""
ONE_DEPARTED = {
    "identities": [{"person_id": "P1", "name": "张三", "status": "departed", "departure_date": "2026-11-20"}],
    "accounts": [{"system": "erp", "account_id": "zhangsan", "person_id": "P1", "enabled": "true"}],
}
