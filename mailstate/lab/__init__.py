"""mailstate.lab"""
