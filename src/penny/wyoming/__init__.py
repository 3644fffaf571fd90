"""Penny in the Wyoming protocol (Home Assistant voice): Penny's engines as Wyoming services, and satellites Penny drives."""
