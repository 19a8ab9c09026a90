"""mailstate.model"""
