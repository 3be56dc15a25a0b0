
x