"""Network bodies shared by generators and energies."""
