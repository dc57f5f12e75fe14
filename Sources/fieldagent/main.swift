print("fieldagent")
