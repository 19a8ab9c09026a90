"""mailstate.transport"""
