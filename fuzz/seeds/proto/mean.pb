
1
/
:
	
clients":


server""„
x
:


server":e
E
1
/
:
	
clients":


server"
federated_mean
:
	
clients"2
x