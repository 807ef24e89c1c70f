"""The profile stage: exchange.events in; exchange.profiles and exchange.profile-updates out.

``records`` holds the byte formats, ``batch`` the pure per-batch logic, ``store`` the
local state, ``stage`` the exactly-once Kafka loop and ``service`` its worker hosting.
"""
