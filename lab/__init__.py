"""sitevpn lab: the seed's Figure 35-1 as User-Mode Linux guests (see README, "The lab")."""
