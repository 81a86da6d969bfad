
><

lo:


server"

hi:


server"* 
>
values4
:
	
clients"R
file:///data/temperaturesÝ
><

lo:


server"

hi:


server"Bš
Š
loƒ
:


server":i
D
1
/
:
	
clients":


server"
federated_min!
:
	
clients"2
values
Š
hiƒ
:


server":i
D
1
/
:
	
clients":


server"
federated_max!
:
	
clients"2
values