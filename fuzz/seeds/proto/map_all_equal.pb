
8
6
:


server"
:


server"
"¡
w›
:


server"
*ı
£

at_clients”
:
	
clients"
:v
R
9
7
:


server"
:
	
clients"

federated_broadcast 
:


server"
2
w
¿
squared³
:
	
clients"
:”
u
X
V
86


"
"

:
	
clients"
:
	
clients"

federated_map_all_equalš
86


"
"

:
	
clients"
Bİ
¬©


"
"
"
vŠ
"
:
;
%
#

	"

	"
"

generic_multiply@

	"

	"
B$

"
2
v

"
2
v
,*
:
	
clients"
2

at_clients’
:


server"
:u
J
7
5
:
	
clients"
:


server"

federated_sum'
:
	
clients"
2	
squared