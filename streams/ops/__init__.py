"""Operator and regulator tools that read or change the broker.

Secure provisioning (users, ACLs), the platforms view, the audit log reader.
"""
