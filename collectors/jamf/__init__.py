"""Jamf Pro device management for Apple computers."""
