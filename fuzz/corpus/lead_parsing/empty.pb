
leads