"""mailstate.formats"""
