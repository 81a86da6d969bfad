

:


server""áÞ
:


server":Ã
E
1
/
:
	
clients":


server"
federated_meanz
:
	
clients":a
B
#
!

":
	
clients"
federated_eval_at_clients

"Â>
local_metric