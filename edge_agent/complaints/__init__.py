"""Complaints, repairs, suggestions, consultations and praise (seeds 002, 003 section 二):
grading, the commitment deadline in working hours, tracking numbers, the record and its
history, and tracking by number and phone digits."""
