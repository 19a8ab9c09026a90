"""mailstate.engine"""
